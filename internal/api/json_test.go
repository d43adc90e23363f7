package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/account"
)

// marker is put in hostile bodies: an answer that quotes it echoes the body.
const marker = "zq9x"

// hostileBodies are refused by every strict JSON call; each is sent as
// application/json. The comment says what a lax decoder would have done.
var hostileBodies = []struct {
	name, body string
	code       account.Code
}{
	// What encoding/json did with these is in the comment.
	{"DuplicateName", `{"code":"` + marker + `1","code":"` + marker + `2"}`, account.CodeInvalidRequest}, // the last one won
	{"DuplicateNameThreeTimes", `{"code":"1","code":"2","code":"3"}`, account.CodeInvalidRequest},        // the last one won
	{"DuplicateNameEscaped", `{"code":"1","\u0063ode":"2"}`, account.CodeInvalidRequest},                 // the last one won
	{"DuplicateNameNull", `{"code":null,"code":"` + marker + `"}`, account.CodeInvalidRequest},           // the last one won
	{"DuplicateUnknownName", `{"` + marker + `":1,"` + marker + `":2}`, account.CodeInvalidRequest},      // refused as unknown
	{"DuplicateNested", `{"code":{"a":1,"a":2}}`, account.CodeInvalidRequest},                            // refused as a wrong type
	{"CaseFoldedName", `{"Code":"` + marker + `"}`, account.CodeInvalidRequest},                          // filled "code"
	{"CaseFoldedNameUpper", `{"CODE":"` + marker + `"}`, account.CodeInvalidRequest},                     // filled "code"
	{"CaseFoldedNameEscaped", `{"\u0043ode":"` + marker + `"}`, account.CodeInvalidRequest},              // filled "code"
	{"CaseFoldedAfterExact", `{"code":"1","Code":"` + marker + `"}`, account.CodeInvalidRequest},         // "Code" overwrote "code"
	{"InvalidUTF8", "{\"code\":\"" + marker + "\xff\xfe\"}", account.CodeInvalidRequest},                 // became U+FFFD
	{"InvalidUTF8InName", "{\"co\xc0de\":\"1\"}", account.CodeInvalidRequest},                            // refused as unknown
	{"InvalidUTF8Overlong", "{\"code\":\"\xc0\xaf\"}", account.CodeInvalidRequest},                       // became U+FFFD
	{"InvalidUTF8Surrogate", "{\"code\":\"\xed\xa0\x80\"}", account.CodeInvalidRequest},                  // became U+FFFD
	{"InvalidUTF8Truncated", "{\"code\":\"\xe2\x82\"}", account.CodeInvalidRequest},                      // became U+FFFD
	{"InvalidUTF8AfterValue", "{\"code\":\"1\"}\xff", account.CodeInvalidRequest},                        // refused as trailing data
	{"LoneSurrogateEscape", `{"code":"\ud800` + marker + `"}`, account.CodeInvalidRequest},               // became U+FFFD
	{"LoneLowSurrogateEscape", `{"code":"\udc00"}`, account.CodeInvalidRequest},                          // became U+FFFD
	{"BareNull", `null`, account.CodeInvalidRequest},                                                     // a no-op
	{"BareNullSpaced", " \n null \t", account.CodeInvalidRequest},                                        // a no-op
	{"NullThenObject", `null {"code":"1"}`, account.CodeInvalidRequest},                                  // refused as trailing data
	{"Array", `["` + marker + `"]`, account.CodeInvalidRequest},                                          // refused as a wrong type
	{"String", `"` + marker + `"`, account.CodeInvalidRequest},                                           // refused as a wrong type
	{"Number", `12`, account.CodeInvalidRequest},                                                         // refused as a wrong type
	{"True", `true`, account.CodeInvalidRequest},                                                         // refused as a wrong type
	{"UnknownField", `{"code":"1","` + marker + `":true}`, account.CodeInvalidRequest},                   // refused
	{"WrongType", `{"code":12}`, account.CodeInvalidRequest},                                             // refused
	{"WrongTypeObject", `{"code":{"` + marker + `":1}}`, account.CodeInvalidRequest},                     // refused
	{"TrailingValue", `{"code":"1"} {"code":"` + marker + `"}`, account.CodeInvalidRequest},              // refused
	{"TrailingGarbage", `{"code":"1"}` + marker, account.CodeInvalidRequest},                             // refused
	{"TrailingBrace", `{"code":"1"}}`, account.CodeInvalidRequest},                                       // refused
	{"TrailingNUL", "{\"code\":\"1\"}\x00", account.CodeInvalidRequest},                                  // refused
	{"Truncated", `{"code":"` + marker, account.CodeInvalidRequest},                                      // refused
	{"OpenBrace", `{`, account.CodeInvalidRequest},                                                       // refused
	{"NotJSON", marker, account.CodeInvalidRequest},                                                      // refused
	{"Empty", ``, account.CodeInvalidRequest},                                                            // refused
	{"Whitespace", " \r\n\t", account.CodeInvalidRequest},                                                // refused
	{"BOM", "\xef\xbb\xbf{\"code\":\"1\"}", account.CodeInvalidRequest},                                  // refused
	{"Comment", `{"code":"1" /* ` + marker + ` */}`, account.CodeInvalidRequest},                         // refused
	{"SingleQuotes", `{'code':'` + marker + `'}`, account.CodeInvalidRequest},                            // refused
	{"TrailingComma", `{"code":"` + marker + `",}`, account.CodeInvalidRequest},                          // refused
	{"UnquotedName", `{code:"1"}`, account.CodeInvalidRequest},                                           // refused
	{"ControlCharInString", "{\"code\":\"1\x01" + marker + "\"}", account.CodeInvalidRequest},            // refused
	{"NaN", `{"code":NaN}`, account.CodeInvalidRequest},                                                  // refused
	{"DeepNesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), account.CodeInvalidRequest}, // refused
	{"TooLarge", `{"code":"` + strings.Repeat("a", maxJSONBody) + `"}`, codeTooLarge},                    // refused
	{"TooLargeGarbage", strings.Repeat(marker, maxJSONBody), codeTooLarge},                               // refused
	{"TooLargeWhitespace", `{"code":"1"}` + strings.Repeat(" ", maxJSONBody), codeTooLarge},              // refused
}

// codeRequestBody is decoded by the tests: one field, like most calls.
type codeRequestBody struct {
	Code string `json:"code"`
}

// newJSONRequest builds a POST with body sent as contentType.
func newJSONRequest(t testing.TB, path, contentType, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// checkRefusal fails unless err is an *account.Error with code want whose
// message does not quote the body.
func checkRefusal(t *testing.T, err error, want account.Code) {
	t.Helper()
	var e *account.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *account.Error %s", err, want)
	}
	if e.Code != want {
		t.Errorf("code: got %s (%q), want %s", e.Code, e.Message, want)
	}
	if e.Message == "" || strings.Contains(strings.ToLower(e.Message), marker) {
		t.Errorf("message %q is empty or quotes the body", e.Message)
	}
}

func TestDecodeRefusesHostileBodies(t *testing.T) {
	for _, tc := range hostileBodies {
		t.Run(tc.name, func(t *testing.T) {
			var v codeRequestBody
			err := decode(httptest.NewRecorder(), newJSONRequest(t, "/", "application/json", tc.body), &v)
			checkRefusal(t, err, tc.code)
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"Plain", "application/json", `{"code":"123456"}`, "123456"},
		{"Charset", "application/json; charset=utf-8", `{"code":"123456"}`, "123456"},
		{"Spaces", "application/json", " \n{ \"code\" : \"1\" }\r\n ", "1"},
		{"EmptyObject", "application/json", `{}`, ""},
		{"NullField", "application/json", `{"code":null}`, ""}, // the field stays empty; required() refuses it
		{"Unicode", "application/json", `{"code":"héllo \u00e9 😀"}`, "héllo é 😀"},
		{"EscapedSurrogatePair", "application/json", `{"code":"\ud83d\ude00"}`, "😀"},
		{"EscapedName", "application/json", `{"\u0063ode":"7"}`, "7"},
		{"AtTheLimit", "application/json", `{"code":"` + strings.Repeat("a", maxJSONBody-11) + `"}`, strings.Repeat("a", maxJSONBody-11)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v codeRequestBody
			if err := decode(httptest.NewRecorder(), newJSONRequest(t, "/", tc.contentType, tc.body), &v); err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if v.Code != tc.want {
				t.Errorf("code: got %q, want %q", v.Code, tc.want)
			}
		})
	}
}

func TestDecodeMessages(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		code                    account.Code
		message                 string
	}{
		{"MediaType", "text/plain", `{}`, codeUnsupportedMediaType, "Send the body as application/json."},
		{"NoMediaType", "", `{}`, codeUnsupportedMediaType, "Send the body as application/json."},
		{"Duplicate", "application/json", `{"code":"1","code":"2"}`, account.CodeInvalidRequest, "The body names a field more than once."},
		{"Case", "application/json", `{"Code":"1"}`, account.CodeInvalidRequest, "The body has a field this call does not accept (names are case-sensitive)."},
		{"UTF8", "application/json", "{\"code\":\"\xff\"}", account.CodeInvalidRequest, "The body is not valid UTF-8."},
		{"Null", "application/json", `null`, account.CodeInvalidRequest, "The body is null; send a JSON object."},
		{"Array", "application/json", `[]`, account.CodeInvalidRequest, "The body must be a JSON object."},
		{"WrongType", "application/json", `{"code":1}`, account.CodeInvalidRequest, `Field "code" has the wrong type.`},
		{"Trailing", "application/json", `{"code":"1"} {}`, account.CodeInvalidRequest, "The body has data after the JSON value."},
		{"Empty", "application/json", ``, account.CodeInvalidRequest, "The body is empty; send a JSON object."},
		{"Truncated", "application/json", `{"code":"1"`, account.CodeInvalidRequest, "The body ends before its JSON value does."},
		{"TooLarge", "application/json", strings.Repeat(" ", maxJSONBody+1), codeTooLarge, "The body is larger than 64 KiB."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v codeRequestBody
			err := decode(httptest.NewRecorder(), newJSONRequest(t, "/", tc.contentType, tc.body), &v)
			var e *account.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Message != tc.message {
				t.Errorf("got %v, want %s: %s", err, tc.code, tc.message)
			}
		})
	}
}

// TestHandlerRefusesHostileBodies sends every hostile body through the
// real router: each must be answered 400 (or 413) before the service is
// reached (the Server has none, so reaching it would panic).
func TestHandlerRefusesHostileBodies(t *testing.T) {
	mux := http.NewServeMux()
	New(nil, nil, slog.New(slog.DiscardHandler)).Register(mux)
	paths := []string{Prefix + "/login/code/some-flow", Prefix + "/registrations"}
	for _, path := range paths {
		for _, tc := range hostileBodies {
			t.Run(strings.TrimPrefix(path, Prefix+"/")+"/"+tc.name, func(t *testing.T) {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, newJSONRequest(t, path, "application/json", tc.body))
				checkErrorAnswer(t, w, statusOf[tc.code], tc.code)
				if strings.Contains(strings.ToLower(w.Body.String()), marker) {
					t.Errorf("the answer quotes the body: %s", w.Body)
				}
			})
		}
	}
}

// checkErrorAnswer fails unless w holds the API's JSON error with status
// and code, marked no-store.
func checkErrorAnswer(t *testing.T, w *httptest.ResponseRecorder, status int, code account.Code) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status: got %d, want %d (%s)", w.Code, status, w.Body)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("body: got %+v, want code %s and a message", body.Error, code)
	}
}

// FuzzDecode checks that decode never panics, and either accepts the body
// or refuses it as invalid_request or too_large; what it accepts is valid
// UTF-8 within the size limit.
func FuzzDecode(f *testing.F) {
	for _, tc := range hostileBodies {
		if len(tc.body) < 1024 {
			f.Add(tc.body)
		}
	}
	f.Add(`{"code":"123456","password":"correct horse"}`)
	f.Add(`{"code":"1","password":null}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		var v struct {
			Code     string `json:"code"`
			Password string `json:"password"`
		}
		err := decode(httptest.NewRecorder(), newJSONRequest(t, "/", "application/json", body), &v)
		if err == nil {
			if !utf8.ValidString(body) || len(body) > maxJSONBody {
				t.Fatalf("accepted %q", body)
			}
			return
		}
		var e *account.Error
		if !errors.As(err, &e) || (e.Code != account.CodeInvalidRequest && e.Code != codeTooLarge) {
			t.Fatalf("body %q: got %v, want invalid_request or too_large", body, err)
		}
	})
}

// TestDecodeOptional covers the calls that take no input.
func TestDecodeOptional(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    account.Code // "" when accepted
	}{
		{"NoBody", "", "", ""},
		{"EmptyObject", "application/json", "{}", ""},
		{"Field", "application/json", `{"x":1}`, account.CodeInvalidRequest},
		{"Null", "application/json", `null`, account.CodeInvalidRequest},
		{"Text", "text/plain", `hi`, codeUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			r := httptest.NewRequest(http.MethodPost, "/", body)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			err := decodeOptional(httptest.NewRecorder(), r)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want none", err)
				}
				return
			}
			checkRefusal(t, err, tc.want)
		})
	}
}
