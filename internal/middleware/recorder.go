package middleware

import "net/http"

// StatusRecorder is an http.ResponseWriter that remembers the status code
// and the number of body bytes written through it. It keeps flushing working
// and unwraps for http.ResponseController (deadlines, hijacking).
type StatusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// NewStatusRecorder returns a StatusRecorder that writes to w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// WriteHeader records the first final (non-1xx) status and passes code on.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes of b that were written, after an implicit 200.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher; it does nothing if the underlying writer
// cannot flush.
func (s *StatusRecorder) Flush() {
	_ = s.FlushError()
}

// FlushError flushes like Flush and reports http.ErrNotSupported when the
// underlying writer cannot flush; http.ResponseController calls it.
func (s *StatusRecorder) FlushError() error {
	if s.status == 0 {
		s.status = http.StatusOK // flushing sends the header
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (s *StatusRecorder) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}

// Status returns the status code sent so far, or 0 if nothing was sent yet.
func (s *StatusRecorder) Status() int {
	return s.status
}

// BytesWritten returns the number of body bytes written so far.
func (s *StatusRecorder) BytesWritten() int64 {
	return s.bytes
}
