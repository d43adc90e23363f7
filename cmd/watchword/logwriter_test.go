package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowOutput records writes, each taking a while, as a busy terminal or
// pipe would.
type slowOutput struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (o *slowOutput) Write(p []byte) (int, error) {
	time.Sleep(o.delay)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	return o.buf.Write(p)
}

// TestLogWriterKeepsEveryLineInOrder: lines from many goroutines all
// arrive whole, each goroutine's in the order it wrote them, in fewer
// writes than lines when the output is slow; Close writes what is left and
// later lines still arrive.
func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	out := &slowOutput{delay: 200 * time.Microsecond}
	w := newLogWriter(out)
	const writers, lines = 16, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "{\"g\":%d,\"i\":%d}\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "after close\n")

	got := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(got) != writers*lines+1 || got[len(got)-1] != "after close" {
		t.Fatalf("%d lines, last %q; want %d and the line written after Close", len(got), got[len(got)-1], writers*lines+1)
	}
	next := make([]int, writers)
	for _, line := range got[:len(got)-1] {
		var g, i int
		if _, err := fmt.Sscanf(line, "{\"g\":%d,\"i\":%d}", &g, &i); err != nil {
			t.Fatalf("line %q torn: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d came where %d was due", g, i, next[g])
		}
		next[g]++
	}
	if out.writes >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was batched", out.writes, writers*lines)
	}
	t.Logf("%d lines in %d writes", writers*lines, out.writes)
}

// TestLogWriterQuietLineIsWrittenAtOnce: a single line reaches the output
// without waiting for a timer or for Close.
func TestLogWriterQuietLineIsWrittenAtOnce(t *testing.T) {
	out := &slowOutput{}
	w := newLogWriter(out)
	defer w.Close()
	fmt.Fprintf(w, "one line\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out.mu.Lock()
		s := out.buf.String()
		out.mu.Unlock()
		if s == "one line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %q after 5 s", s)
		}
		time.Sleep(time.Millisecond)
	}
}
