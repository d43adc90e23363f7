package main

import (
	"io"
	"sync"
)

// logWriter batches the server's log lines into as few writes as the
// output can take: a line is handed to a goroutine that writes everything
// gathered since its last write in one call. A quiet server still writes
// each line at once (nothing waits on a timer), while under load one write
// carries many lines: at thousands of requests a second the access log's
// one write per line was the largest cost of a session check above the
// bare handler's. Close writes what is left.
type logWriter struct {
	out  io.Writer
	wake chan struct{}
	done chan struct{}

	writing sync.Mutex // held by whoever writes to out, so lines keep their order
	mu      sync.Mutex // guards pending and closed
	pending []byte
	closed  bool
	spare   []byte // the last batch written, reused; guarded by writing
}

// maxPendingLog bounds the lines held for a slow output: past it, a line
// is written by the caller itself, so the log slows the server down rather
// than growing without bound or dropping lines.
const maxPendingLog = 1 << 20

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// Write queues p (a whole line: slog handlers write one record per call).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed || len(w.pending) >= maxPendingLog {
		w.mu.Unlock()
		w.writing.Lock()
		defer w.writing.Unlock()
		if err := w.flush(); err != nil { // what is pending goes first
			return 0, err
		}
		return w.out.Write(p)
	}
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	for range w.wake {
		w.writing.Lock()
		w.flush() // nowhere to report a failing log output
		w.writing.Unlock()
	}
}

// flush writes what is pending; the caller holds w.writing. The lines are
// taken under w.mu and written outside it, so that logging goes on
// meanwhile.
func (w *logWriter) flush() error {
	w.mu.Lock()
	b := w.pending
	w.pending = w.spare[:0]
	w.mu.Unlock()
	w.spare = b
	if len(b) == 0 {
		return nil
	}
	_, err := w.out.Write(b)
	return err
}

// Close writes every line queued so far; later lines are written at once.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.wake)
	<-w.done
	w.writing.Lock()
	defer w.writing.Unlock()
	return w.flush()
}
