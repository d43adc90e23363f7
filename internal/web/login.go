package web

import (
	"net/http"

	"github.com/watchword/watchword/internal/account"
)

// Logging in: with a password at /login, or with a code sent to a
// verified email or phone at /login/code. When an authenticator is bound,
// the same page then asks for its code (or a recovery code); the flow
// cookie remembers which page the step belongs to.

// codeLoginData is the Data of login_code.html.
type codeLoginData struct {
	Step    int // 1: the identifier, 2: the code
	Address string
}

// mfaData is the Data of authenticator.html.
type mfaData struct {
	Action   string // the page whose step it is: the form's action
	Recovery bool   // asking for a recovery code rather than the app's code
}

func (s *Server) loginView(r *http.Request) *view { return s.view(r, "web.login.title", nil) }

func (s *Server) codeLoginView(r *http.Request, f *flow) *view {
	if f == nil {
		return s.view(r, "web.login_code.title", &codeLoginData{Step: 1})
	}
	return s.view(r, "web.login_code.code.title", &codeLoginData{Step: 2, Address: f.Address})
}

func (s *Server) mfaView(r *http.Request, from string, recovery bool) *view {
	title := "web.mfa.title"
	if recovery {
		title = "web.mfa.recovery.title"
	}
	return s.view(r, title, &mfaData{Action: from, Recovery: recovery})
}

// mfaPending returns the browser's flow waiting for the authenticator on
// page from, or nil.
func (s *Server) mfaPending(r *http.Request, from string) *flow {
	if f := s.flowOf(r, flowMFA); f != nil && f.From == from {
		return f
	}
	return nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if in, err := s.signedIn(w, r); err != nil || in {
		if err != nil {
			return err
		}
		return redirect(w, r, "/account")
	}
	if s.mfaPending(r, "/login") != nil {
		return s.page(w, r, "authenticator.html", s.mfaView(r, "/login", r.URL.Query().Get("recovery") == "1"))
	}
	return s.page(w, r, "login.html", s.loginView(r))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	switch r.PostForm.Get("step") {
	case "restart":
		s.clearFlow(w)
		return redirect(w, r, "/login")
	case "totp":
		return s.secondFactor(w, r, "/login")
	}
	ident, pw := textField(r, "identifier"), r.PostForm.Get("password")
	v := s.loginView(r).keep("identifier", ident) // never the password
	switch {
	case ident == "":
		return invalid("login.html", v, "identifier", required)
	case pw == "":
		return invalid("login.html", v, "password", required)
	}
	res, err := s.accounts.LoginPassword(r.Context(), s.client(r), ident, pw)
	if err != nil {
		return invalid("login.html", v, "password", err)
	}
	return s.firstFactorPassed(w, r, res, "/login")
}

func (s *Server) codeLoginPage(w http.ResponseWriter, r *http.Request) error {
	if in, err := s.signedIn(w, r); err != nil || in {
		if err != nil {
			return err
		}
		return redirect(w, r, "/account")
	}
	if s.mfaPending(r, "/login/code") != nil {
		return s.page(w, r, "authenticator.html", s.mfaView(r, "/login/code", r.URL.Query().Get("recovery") == "1"))
	}
	return s.page(w, r, "login_code.html", s.codeLoginView(r, s.flowOf(r, flowCodeLogin)))
}

func (s *Server) codeLogin(w http.ResponseWriter, r *http.Request) error {
	f := s.flowOf(r, flowCodeLogin)
	switch step := r.PostForm.Get("step"); {
	case step == "restart":
		s.clearFlow(w)
		return redirect(w, r, "/login/code")
	case step == "totp":
		return s.secondFactor(w, r, "/login/code")
	case step == "resend" && f != nil:
		return s.codeLoginStart(w, r, f.Address, true)
	case step == "code" && f != nil:
		return s.codeLoginCode(w, r, f)
	case step == "" || step == "identifier":
		return s.codeLoginStart(w, r, textField(r, "identifier"), false)
	}
	return s.loginEnded(w, r, "/login/code")
}

// codeLoginStart sends a login code: the first step, or "send a new code".
// The answer is the same whether or not the address is an account's.
func (s *Server) codeLoginStart(w http.ResponseWriter, r *http.Request, ident string, resend bool) error {
	if ident == "" {
		return invalid("login_code.html", s.codeLoginView(r, nil), "identifier", required)
	}
	id, err := s.accounts.StartCodeLogin(r.Context(), s.client(r), ident)
	if err != nil {
		if resend {
			return invalid("login_code.html", s.codeLoginView(r, s.flowOf(r, flowCodeLogin)), "code", err)
		}
		return invalid("login_code.html", s.codeLoginView(r, nil).keep("identifier", ident), "identifier", err)
	}
	if err := s.setFlow(w, &flow{Kind: flowCodeLogin, ID: id, Address: ident}); err != nil {
		return err
	}
	if resend {
		s.flash(w, "web.flash.code_sent")
	}
	return redirect(w, r, "/login/code")
}

func (s *Server) codeLoginCode(w http.ResponseWriter, r *http.Request, f *flow) error {
	code := codeField(r)
	v := s.codeLoginView(r, f).keep("code", code)
	if code == "" {
		return invalid("login_code.html", v, "code", required)
	}
	res, err := s.accounts.CompleteCodeLogin(r.Context(), s.client(r), f.ID, code)
	if account.ErrorCode(err) == account.CodeNotFound {
		return s.loginEnded(w, r, "/login/code")
	}
	if err != nil {
		return invalid("login_code.html", v, "code", err)
	}
	return s.firstFactorPassed(w, r, res, "/login/code")
}

// firstFactorPassed signs the browser in, or, with an authenticator bound,
// keeps the flow for the authenticator step on page from.
func (s *Server) firstFactorPassed(w http.ResponseWriter, r *http.Request, res account.LoginResult, from string) error {
	if res.MFAFlowID != "" {
		if err := s.setFlow(w, &flow{Kind: flowMFA, ID: res.MFAFlowID, From: from}); err != nil {
			return err
		}
		return redirect(w, r, from)
	}
	s.startSession(w, r, res.SessionToken)
	return redirect(w, r, "/account")
}

// secondFactor takes the authenticator step of page from: the app's code
// or a recovery code, in the same field.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request, from string) error {
	f := s.mfaPending(r, from)
	if f == nil {
		return s.loginEnded(w, r, from)
	}
	code := codeField(r)
	v := s.mfaView(r, from, r.PostForm.Get("recovery") == "1")
	if code == "" {
		return invalid("authenticator.html", v, "code", required)
	}
	tok, err := s.accounts.CompleteTOTPLogin(r.Context(), s.client(r), f.ID, code)
	if account.ErrorCode(err) == account.CodeNotFound {
		// Too many wrong codes, or the password or authenticator changed
		// meanwhile: the login starts again.
		return s.loginEnded(w, r, from)
	}
	if err != nil {
		return invalid("authenticator.html", v, "code", err)
	}
	s.startSession(w, r, tok)
	return redirect(w, r, "/account")
}

// loginEnded shows the first step of page from again, saying that the
// login has to start over.
func (s *Server) loginEnded(w http.ResponseWriter, r *http.Request, from string) error {
	s.clearFlow(w)
	if from == "/login/code" {
		return invalid("login_code.html", s.codeLoginView(r, nil), "", errFlowEnded)
	}
	return invalid("login.html", s.loginView(r), "", errFlowEnded)
}
