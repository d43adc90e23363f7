package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/watchword/watchword/internal/account"
)

// maxJSONBody is the largest JSON body accepted (contract: 64 KiB).
const maxJSONBody = 64 << 10

// Bodies are decoded with the encoding/json/v2 prototype rather than
// encoding/json: v1 lets a repeated name silently win, fills "code" from
// "Code", replaces invalid UTF-8 with U+FFFD, and takes a bare null as a
// no-op, so one body could mean different things to us and to a proxy or
// WAF in front. v2 refuses all of these by default (it is the Go team's
// design for strict JSON, RFC 8259 §4 and RFC 7493 I-JSON), so no parsing
// is written by hand here.
var strictJSON = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// decode reads a strict JSON body into v: the media type must be JSON, the
// body one JSON object whose names are all fields of v, each once, in
// their exact case, in valid UTF-8, with nothing after it. Messages never
// quote the body, only the names of v's own fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &account.Error{Code: codeUnsupportedMediaType, Message: "Send the body as application/json."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return &account.Error{Code: codeTooLarge, Message: "The body is larger than 64 KiB."}
		}
		return account.Errorf(account.CodeInvalidRequest, "The body could not be read.")
	}
	if len(bytes.Trim(body, " \t\r\n")) == 0 { // JSON's whitespace only
		return account.Errorf(account.CodeInvalidRequest, "The body is empty; send a JSON object.")
	}
	// Checked up front for a clear message; the decoder would refuse it too.
	if !utf8.Valid(body) {
		return account.Errorf(account.CodeInvalidRequest, "The body is not valid UTF-8.")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), strictJSON)
	switch dec.PeekKind() {
	case '{':
	case 'n':
		return account.Errorf(account.CodeInvalidRequest, "The body is null; send a JSON object.")
	case 0: // not JSON at all; the read below reports where
		_, err := dec.ReadValue()
		return decodeError(err)
	default:
		return account.Errorf(account.CodeInvalidRequest, "The body must be a JSON object.")
	}
	if err := jsonv2.UnmarshalDecode(dec, v, strictJSON); err != nil {
		return decodeError(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return account.Errorf(account.CodeInvalidRequest, "The body has data after the JSON value.")
	}
	return nil
}

// fieldName matches the names of the API's request fields; only such a
// name is ever quoted back in a message.
var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// decodeError turns a decoder error into invalid_request with a message
// that names at most one of the request's own fields.
func decodeError(err error) error {
	var semErr *jsonv2.SemanticError
	var synErr *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return account.Errorf(account.CodeInvalidRequest, "The body names a field more than once.")
	case errors.Is(err, jsonv2.ErrUnknownName):
		return account.Errorf(account.CodeInvalidRequest, "The body has a field this call does not accept (names are case-sensitive).")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return account.Errorf(account.CodeInvalidRequest, "The body ends before its JSON value does.")
	case errors.As(err, &semErr):
		// Unknown names are refused above, so a top-level pointer here
		// names a field of v.
		if p := semErr.JSONPointer; p.Parent() == "" && fieldName.MatchString(p.LastToken()) {
			return account.Errorf(account.CodeInvalidRequest, "Field %q has the wrong type.", p.LastToken())
		}
		return account.Errorf(account.CodeInvalidRequest, "The body has a value of the wrong type.")
	case errors.As(err, &synErr):
		return account.Errorf(account.CodeInvalidRequest, "The body is not valid JSON (at byte %d).", synErr.ByteOffset)
	default:
		return account.Errorf(account.CodeInvalidRequest, "The body is not valid JSON for this call.")
	}
}

// writeJSON writes v with status. Every answer of the API is no-store.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// required returns invalid_request naming the first empty field.
func required(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return account.Errorf(account.CodeInvalidRequest, "Field %q is required.", fields[i])
		}
	}
	return nil
}

// decodeOptional accepts an empty body or an empty JSON object, for calls
// that take no input; anything else is refused like any strict body.
func decodeOptional(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	var empty struct{}
	return decode(w, r, &empty)
}
