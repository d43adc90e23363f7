package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// maxFieldBytes bounds each text field of a multipart form.
const maxFieldBytes = 4 << 10

// uploadTimeout is how long an upload (or a download of evidence) may
// take, in place of the server's timeouts for JSON calls.
const uploadTimeout = 15 * time.Minute

// uploadSink takes the files of a multipart form as they stream in.
type uploadSink interface {
	Add(ctx context.Context, role review.Role, r io.Reader) error
	Discard(ctx context.Context)
}

// multipartForm reads a multipart/form-data body part by part, never
// holding a file in memory: text fields are collected (they must come
// before the files, as browsers send them in form order), and at the
// first file begin is called with them to check the text and return the
// sink that takes the files. maxBody bounds the whole body; each file's
// own limit is the evidence store's. The sink is returned so the caller
// submits it; on any error its files are discarded.
func multipartForm(w http.ResponseWriter, r *http.Request, maxBody int64, fields, files []string,
	begin func(form map[string]string) (uploadSink, error)) (sink uploadSink, form map[string]string, err error) {
	mt, params, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if perr != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, nil, &account.Error{Code: account.CodeUnsupportedMediaType, Message: "Send the form as multipart/form-data."}
	}
	// The server's read timeout suits JSON calls; an upload of 100 MB
	// from a phone needs minutes. The size limit still bounds it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadTimeout))
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, maxBody), params["boundary"])
	form = map[string]string{}
	defer func() {
		if err != nil && sink != nil {
			sink.Discard(r.Context())
			sink = nil
		}
		err = uploadError(err)
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sink, form, &bodyError{err}
		}
		name := part.FormName()
		switch {
		case slices.Contains(fields, name):
			if sink != nil {
				return sink, form, account.Errorf(account.CodeInvalidRequest, "Send the field %q before the files.", name)
			}
			if _, dup := form[name]; dup {
				return sink, form, account.Errorf(account.CodeInvalidRequest, "The field %q was sent twice.", name)
			}
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return sink, form, &bodyError{err}
			}
			if len(b) > maxFieldBytes {
				return sink, form, account.Errorf(account.CodeInvalidRequest, "The field %q is too long.", name)
			}
			form[name] = string(b)
		case slices.Contains(files, name):
			if sink == nil {
				if sink, err = begin(form); err != nil {
					return nil, form, err
				}
			}
			if err := sink.Add(r.Context(), review.Role(name), bodyReader{part}); err != nil {
				return sink, form, err
			}
		default:
			return sink, form, account.Errorf(account.CodeInvalidRequest, "Unknown field %q.", name)
		}
		part.Close()
	}
	if sink == nil {
		// No file at all: still check the text, so the answer names what
		// is wrong with it before saying the files are missing.
		if sink, err = begin(form); err != nil {
			return nil, form, err
		}
	}
	return sink, form, nil
}

// bodyError is a failure to read the request body: the client's fault,
// unlike a failure of the evidence store.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// bodyReader tags the read errors of a file part as the client's.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &bodyError{err}
	}
	return n, err
}

// uploadError turns a body cut by the size limit into too_large, and a
// malformed multipart body into invalid_request.
func uploadError(err error) error {
	if err == nil {
		return nil
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return review.ErrTooLarge
	}
	var e *account.Error
	if errors.As(err, &e) {
		return err
	}
	var be *bodyError
	if errors.As(err, &be) {
		return account.Errorf(account.CodeInvalidRequest, "The multipart body is malformed or cut short.")
	}
	return err
}
