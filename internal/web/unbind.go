package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// The lost-authenticator pages: /unbind files a request to remove the
// authenticator, reached from the login's authenticator step (its flow
// proves the first factor), and /unbind/status/{id} follows it.
//
// The spoken challenge is asked for once per flow and kept, sealed and
// bound to the flow id, in a cookie of the /unbind path, so that a reload
// or a form sent back with an error shows the phrase the user recorded
// rather than a new one. The request's token (which the API calls
// X-Request-Token) is kept in an HttpOnly cookie whose path is the status
// page's own: it never appears in an address, a page or a Referer.

const (
	challengeCookie = "watchword_challenge" // the flow's spoken challenge, sealed
	unbindCookie    = "watchword_unbind"    // the request token of /unbind/status/{id}
	unbindTokenAge  = 30 * 24 * 60 * 60     // seconds the status page stays reachable from this browser
	maxTextPart     = 256                   // bytes of a text field of the upload form
	maxParts        = 8                     // parts of the upload form after the token
)

// unbindData is the Data of unbind.html.
type unbindData struct {
	Challenge string
	NoFlow    bool // no login waits for the authenticator: explain and link to /login
}

// sealedChallenge is the content of the challenge cookie.
type sealedChallenge struct {
	Flow    string    `json:"f"`
	Phrase  string    `json:"p"`
	Expires time.Time `json:"e"`
}

// challengeOf returns the phrase the browser was shown for flow f, or "".
func (s *Server) challengeOf(r *http.Request, f *flow) string {
	c, err := r.Cookie(s.cookieName(challengeCookie))
	if err != nil {
		return ""
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.flowBox.NonceSize()
	if err != nil || len(sealed) < n {
		return ""
	}
	plain, err := s.flowBox.Open(nil, sealed[:n], sealed[n:], []byte(challengeCookie))
	if err != nil {
		return ""
	}
	var sc sealedChallenge
	if json.Unmarshal(plain, &sc) != nil || sc.Flow != f.ID || !s.now().Before(sc.Expires) {
		return ""
	}
	return sc.Phrase
}

// challenge returns the flow's spoken challenge, asking the domain for one
// when this browser has none for the flow yet.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, f *flow) (string, error) {
	if p := s.challengeOf(r, f); p != "" {
		return p, nil
	}
	phrase, err := s.reviews.Challenge(r.Context(), s.client(r), f.ID)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealedChallenge{Flow: f.ID, Phrase: phrase, Expires: f.Expires})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.flowBox.NonceSize())
	if _, err := io.ReadFull(s.random, nonce); err != nil {
		return "", err
	}
	sealed := s.flowBox.Seal(nonce, nonce, plain, []byte(challengeCookie))
	c := s.cookie(challengeCookie, base64.RawURLEncoding.EncodeToString(sealed), int(f.Expires.Sub(s.now()).Seconds())+1)
	http.SetCookie(w, c)
	return phrase, nil
}

// unbindPage shows the form, with the flow's challenge, or explains that
// the page is reached from the login.
func (s *Server) unbindPage(w http.ResponseWriter, r *http.Request) error {
	f := s.flowOf(r, flowMFA)
	if f == nil || s.reviews == nil {
		return s.page(w, r, "unbind.html", s.view(r, "web.unbind.title", &unbindData{NoFlow: true}))
	}
	phrase, err := s.challenge(w, r, f)
	if errors.Is(err, account.ErrNotFound) || account.ErrorCode(err) == account.CodeNotFound {
		s.clearFlow(w)
		return s.page(w, r, "unbind.html", s.view(r, "web.unbind.title", &unbindData{NoFlow: true}))
	}
	if err != nil {
		return err
	}
	return s.page(w, r, "unbind.html", s.view(r, "web.unbind.title", &unbindData{Challenge: phrase}))
}

// unbind files the request from the multipart form: csrf_token, uid,
// id_number, then the files photo and video, each streamed into the
// evidence store as it arrives.
func (s *Server) unbind(w http.ResponseWriter, r *http.Request) error {
	f := s.flowOf(r, flowMFA)
	if f == nil || s.reviews == nil {
		return s.page(w, r, "unbind.html", s.view(r, "web.unbind.title", &unbindData{NoFlow: true}))
	}
	mr, err := s.multipartReader(r)
	if err != nil {
		return err
	}
	data := &unbindData{Challenge: s.challengeOf(r, f)}
	v := s.view(r, "web.unbind.title", data)
	if data.Challenge == "" {
		return refused("unbind.html", v, "unbind", errFlowEnded)
	}
	ctx := r.Context()
	text := map[string]string{}
	got := map[string]bool{} // the files stored so far
	var draft *review.UnbindDraft
	defer func() {
		if draft != nil {
			draft.Discard(ctx)
		}
	}()
	begin := func() error {
		v.keep("uid", text["uid"], "id_number", text["id_number"])
		if text["uid"] == "" {
			return invalid("unbind.html", v, "uid", required)
		}
		if text["id_number"] == "" {
			return invalid("unbind.html", v, "id_number", required)
		}
		d, err := s.reviews.BeginUnbind(ctx, s.client(r), review.UnbindForm{FlowID: f.ID, UID: text["uid"], IDNumber: text["id_number"]})
		if err != nil {
			field := "id_number"
			if strings.Contains(err.Error(), "UID") {
				field = "uid"
			}
			if account.ErrorCode(err) == account.CodeNotFound {
				s.clearFlow(w)
				return refused("unbind.html", v, "unbind", errFlowEnded)
			}
			return invalid("unbind.html", v, field, err)
		}
		draft = d
		return nil
	}
	for parts := 0; ; parts++ {
		if parts > maxParts {
			return errBadForm
		}
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errBadForm
		}
		name := p.FormName()
		switch name {
		case "uid", "id_number":
			b, err := io.ReadAll(io.LimitReader(p, maxTextPart+1))
			if err != nil || len(b) > maxTextPart {
				return errBadForm
			}
			text[name] = strings.TrimSpace(string(b))
		case "photo", "video":
			if draft == nil {
				if err := begin(); err != nil {
					return err
				}
			}
			if p.FileName() == "" {
				continue // an empty file input: Submit names what is missing
			}
			if err := draft.Add(ctx, review.Role(name), p); err != nil {
				return invalid("unbind.html", v, name, err)
			}
			got[name] = true
		default:
			_ = p.Close()
		}
	}
	if draft == nil {
		if err := begin(); err != nil {
			return err
		}
	}
	res, err := draft.Submit(ctx)
	draft = nil // Submit discards the files itself on error
	if err != nil {
		field := "photo"
		if got["photo"] {
			field = "video"
		}
		return invalid("unbind.html", v, field, err)
	}
	path := "/unbind/status/" + res.RequestID
	http.SetCookie(w, &http.Cookie{
		Name: s.unbindCookieName(), Value: res.RequestToken, Path: path, MaxAge: unbindTokenAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
	http.SetCookie(w, s.cookie(challengeCookie, "", -1))
	s.flash(w, "web.flash.unbind_filed")
	return redirect(w, r, path)
}

// unbindCookieName is the status cookie's name: its path is not "/", so
// it takes the __Secure- prefix on https rather than __Host-.
func (s *Server) unbindCookieName() string {
	if s.secure {
		return "__Secure-" + unbindCookie
	}
	return unbindCookie
}

// statusData is the Data of unbind_status.html.
type statusData struct {
	ID     string
	State  string
	DueAt  time.Time
	Reason string
}

// Due returns the due date in the page's words.
func (d *statusData) Due() string { return d.DueAt.UTC().Format("2006-01-02 15:04 UTC") }

// unbindStatus shows a request to the browser that filed it.
func (s *Server) unbindStatus(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := r.Cookie(s.unbindCookieName())
	if err != nil || s.reviews == nil {
		return account.ErrNotFound
	}
	req, err := s.reviews.UnbindStatus(r.Context(), id, c.Value)
	if err != nil {
		return err
	}
	return s.page(w, r, "unbind_status.html", s.view(r, "web.unbind.status.title",
		&statusData{ID: req.ID, State: string(req.State), DueAt: req.DueAt, Reason: req.Reason}))
}
