package web

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// The authenticator page, /account/authenticator: connect an app (the
// key as text and as a QR code, then a code to confirm), see the ten
// recovery codes once, and remove the app with a code.
//
// Between the steps the page keeps its own sealed cookie (totpCookie,
// AES-GCM under the flow key, bound to the account): while connecting,
// the grouped key, so that a wrong code or a reload shows it again; after
// confirming, the recovery codes, so that the page can show them, and
// download them (a POST answered with a text/plain attachment, from that
// cookie), until the user presses "done" or ten minutes pass. The codes
// are never stored in plaintext on the server, never in an address; the
// QR code is an image the page loads from the domain's pending binding.

const (
	totpCookie  = "watchword_totp"
	totpPath    = "/account/authenticator"
	totpStepUp  = "/account/step-up?next=" + totpPath
	totpCodeTTL = 10 * time.Minute // how long the recovery codes stay on the page
)

// totpState is the content of totpCookie.
type totpState struct {
	UID     string    `json:"u"`
	Grouped string    `json:"g,omitempty"` // connecting: the key, in groups of four
	Codes   []string  `json:"c,omitempty"` // confirmed: the recovery codes
	Offset  int       `json:"o,omitempty"` // confirmed: the phone's clock offset, in seconds
	Expires time.Time `json:"e"`
}

// totpData is the Data of totp.html.
type totpData struct {
	Bound   bool
	Grouped string   // connecting
	Codes   []string // just confirmed
	Offset  int      // just confirmed, seconds; 0 when the clock is right
	Later   bool     // Offset > 0: the phone is ahead
	Drift   string   // |Offset|, in the page's words
	QRPath  string
}

func (s *Server) totpView(r *http.Request, bound bool, st *totpState) *view {
	d := &totpData{Bound: bound, QRPath: totpPath + "/qr"}
	title := "web.totp.title"
	if st != nil {
		d.Grouped, d.Codes, d.Offset = st.Grouped, st.Codes, st.Offset
		d.Later = st.Offset > 0
		if st.Offset != 0 {
			d.Drift = s.drift(s.info(r).lang, st.Offset)
		}
	}
	if len(d.Codes) > 0 {
		title = "web.totp.codes.title"
	}
	return s.view(r, title, d)
}

func (s *Server) totpPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	_, bound, err := s.accounts.Me(r.Context(), sess)
	if err != nil {
		return err
	}
	return s.page(w, r, "totp.html", s.totpView(r, bound, s.totpStateOf(r, sess)))
}

// totpSubmit takes the page's forms; the hidden field step says which.
func (s *Server) totpSubmit(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	ctx := r.Context()
	_, bound, err := s.accounts.Me(ctx, sess)
	if err != nil {
		return err
	}
	st := s.totpStateOf(r, sess)
	switch r.PostForm.Get("step") {
	case "connect":
		b, err := s.accounts.BeginTOTP(ctx, s.client(r), sess)
		if account.ErrorCode(err) == account.CodeStepUpRequired {
			return redirect(w, r, totpStepUp)
		}
		if err != nil {
			return refused("totp.html", s.totpView(r, bound, nil), "", err)
		}
		if err := s.setTOTPState(w, &totpState{UID: sess.UID, Grouped: b.Grouped}); err != nil {
			return err
		}
		return redirect(w, r, totpPath)
	case "confirm":
		if st == nil || st.Grouped == "" {
			return redirect(w, r, totpPath)
		}
		code := codeField(r)
		v := s.totpView(r, bound, st)
		if code == "" {
			return invalid("totp.html", v, "code", required)
		}
		c, err := s.accounts.ConfirmTOTP(ctx, s.client(r), sess, code)
		switch {
		case err == nil:
		case account.ErrorCode(err) == account.CodeStepUpRequired:
			return redirect(w, r, totpStepUp)
		case account.ErrorCode(err) == account.CodeNotFound:
			s.clearTOTPState(w)
			v = s.totpView(r, bound, nil)
			v.errors[""] = v.T("web.totp.expired")
			return s.render(w, r, http.StatusBadRequest, "totp.html", v)
		default:
			return invalid("totp.html", v.keep("code", code), "code", err)
		}
		err = s.setTOTPState(w, &totpState{UID: sess.UID, Codes: c.RecoveryCodes, Offset: c.ClockOffsetSeconds,
			Expires: s.now().Add(totpCodeTTL)})
		if err != nil {
			return err
		}
		s.flash(w, "web.flash.totp_on")
		return redirect(w, r, totpPath)
	case "cancel", "done":
		if st != nil && st.Grouped != "" {
			s.flash(w, "web.flash.totp_cancelled")
		}
		s.clearTOTPState(w)
		return redirect(w, r, totpPath)
	case "remove":
		code := codeField(r)
		v := s.totpView(r, bound, nil)
		if code == "" {
			return invalid("totp.html", v, "code", required)
		}
		err := s.accounts.DisableTOTP(ctx, s.client(r), sess, code)
		switch {
		case err == nil:
		case account.ErrorCode(err) == account.CodeStepUpRequired:
			return redirect(w, r, totpStepUp)
		case account.ErrorCode(err) == account.CodeNotFound:
			return redirect(w, r, totpPath) // already removed
		default:
			return invalid("totp.html", v, "code", err)
		}
		s.clearTOTPState(w)
		s.flash(w, "web.flash.totp_off")
		return redirect(w, r, totpPath)
	}
	return redirect(w, r, totpPath)
}

// totpQR answers the pending binding's QR code, never cached. The key is
// in no address: the image is found by the session.
func (s *Server) totpQR(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	png, err := s.accounts.PendingTOTPQR(r.Context(), sess)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(png)))
	_, err = w.Write(png)
	if err != nil {
		s.log.DebugContext(r.Context(), "write qr", "err", err)
	}
	return nil
}

// totpCodesFile answers the recovery codes of the page as a text file to
// save, from the one-time state of the page (a POST: nothing cached, no
// address to leak).
func (s *Server) totpCodesFile(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	st := s.totpStateOf(r, sess)
	if st == nil || len(st.Codes) == 0 {
		return redirect(w, r, totpPath)
	}
	v := s.view(r, "web.totp.codes.title", nil)
	var b strings.Builder
	b.WriteString(v.T("web.totp.file.head") + "\r\n\r\n")
	for _, c := range st.Codes {
		b.WriteString(c + "\r\n")
	}
	b.WriteString("\r\n" + v.T("web.totp.file.foot") + "\r\n")
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="recovery-codes.txt"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, b.String())
	return nil
}

// totpStateOf returns the page's live state for sess's account, or nil.
func (s *Server) totpStateOf(r *http.Request, sess *account.Session) *totpState {
	var st totpState
	if !s.openCookie(r, totpCookie, &st) || st.UID != sess.UID || !s.now().Before(st.Expires) {
		return nil
	}
	return &st
}

func (s *Server) setTOTPState(w http.ResponseWriter, st *totpState) error {
	if st.Expires.IsZero() {
		st.Expires = s.now().Add(flowTTL)
	}
	return s.sealCookie(w, totpCookie, st, st.Expires)
}

func (s *Server) clearTOTPState(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(totpCookie, "", -1))
}

// totpCodeField is the data of the "totp-code" template: the code field
// with the label and hint of its form.
type totpCodeField struct {
	V           *view
	Label, Hint string
}

// TOTPCode returns the code field of the authenticator page's forms.
func (v *view) TOTPCode(label, hint string) totpCodeField {
	return totpCodeField{V: v, Label: label, Hint: hint}
}
