package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/watchword/watchword/internal/account"
)

// maxJSONBody is the largest JSON body accepted (contract: 64 KiB).
const maxJSONBody = 64 << 10

// decode reads a strict JSON body into v: the media type must be JSON,
// unknown fields, wrong types and trailing data are refused.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &account.Error{Code: codeUnsupportedMediaType, Message: "Send the body as application/json."}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return account.Errorf(account.CodeInvalidRequest, "The body has data after the JSON value.")
	}
	return nil
}

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return &account.Error{Code: codeTooLarge, Message: "The body is larger than 64 KiB."}
	case errors.As(err, &typeErr):
		return account.Errorf(account.CodeInvalidRequest, "Field %q has the wrong type.", typeErr.Field)
	case errors.Is(err, io.EOF):
		return account.Errorf(account.CodeInvalidRequest, "The body is empty; send a JSON object.")
	default:
		return account.Errorf(account.CodeInvalidRequest, "The body is not valid JSON for this call: %s.", sanitize(err.Error()))
	}
}

// sanitize keeps decoder messages short; they never contain body values
// other than field names.
func sanitize(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
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
