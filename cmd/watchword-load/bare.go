package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// meBody is the shape of GET /api/v1/me, for the bare reference handler.
type meBody struct {
	UID   string `json:"uid"`
	Email *struct {
		Address  string `json:"address"`
		Verified bool   `json:"verified"`
	} `json:"email"`
	Phone *struct {
		Number   string `json:"number"`
		Verified bool   `json:"verified"`
	} `json:"phone"`
	TOTP struct {
		Enabled bool `json:"enabled"`
	} `json:"totp"`
	Roles             []string   `json:"roles"`
	PrivilegedUntil   *time.Time `json:"privileged_until"`
	SecurityHoldUntil *time.Time `json:"security_hold_until"`
}

// bareHandler answers GET /api/v1/me with a fixed body of the real one's
// shape to any bearer token, with the headers every watchword answer
// carries; anything else is 404. It is the floor a session check can reach
// on this machine: net/http and encoding/json, no session look-up.
func bareHandler() http.Handler {
	body := meBody{UID: "u7k2q9xw4m", Roles: []string{}}
	body.Email = &struct {
		Address  string `json:"address"`
		Verified bool   `json:"verified"`
	}{"load-bare@example.com", true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// serveBare serves the bare handler on addr (loopback only), writes the
// bound address as one line to out, and serves until stop is closed or
// ctx ends.
func serveBare(ctx context.Context, addr string, out io.Writer, stop <-chan struct{}) error {
	if _, _, err := checkURL("http://" + addr); err != nil {
		return usageError{"--serve-bare: " + strings.TrimPrefix(err.Error(), "--url ")}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bareHandler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(out, ln.Addr().String())
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareChild is the bare handler in a process of its own, so that its CPU
// time is read apart from the load tool's, as the server's is.
type bareChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string
}

// startBareChild runs this executable with --serve-bare 127.0.0.1:0; the
// child serves until its standard input closes.
func startBareChild() (*bareChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "--serve-bare", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		in.Close()
		cmd.Wait()
		return nil, fmt.Errorf("bare reference server did not start: %w", err)
	}
	return &bareChild{cmd: cmd, in: in, addr: strings.TrimSpace(line)}, nil
}

func (b *bareChild) stop() {
	b.in.Close()
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
}
