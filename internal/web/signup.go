package web

import (
	"net/http"

	"github.com/watchword/watchword/internal/account"
)

// Sign-up, in three steps on one address: an email (or, at
// /signup?with=phone, a phone number), the code sent there, then the
// password. The flow cookie says which step the browser is at.

// signupData is the Data of signup.html.
type signupData struct {
	Step      int  // 1: the address, 2: the code, 3: the password
	Phone     bool // the address is a phone number
	EmailOK   bool // codes go out by email: the email tab is offered
	PhoneOK   bool // codes go out by SMS: the phone tab is offered
	Address   string
	MinLength int
}

var signupTitles = map[int]string{1: "web.signup.title", 2: "web.signup.code.title", 3: "web.signup.password.title"}

// signupView is the page at the step of flow f (nil: the first step).
func (s *Server) signupView(r *http.Request, f *flow, phone bool) *view {
	d := &signupData{
		Step: 1, Phone: phone, EmailOK: s.delivers(account.ChannelEmail), PhoneOK: s.delivers(account.ChannelPhone),
		MinLength: s.minLen,
	}
	if f != nil {
		d.Step, d.Phone, d.Address = 2, f.Channel == string(account.ChannelPhone), f.Address
		if f.Code != "" {
			d.Step = 3
		}
	}
	return s.view(r, signupTitles[d.Step], d)
}

// wantsPhone reports whether the first step asks for a phone number: on
// ?with=phone, or when no email goes out.
func (s *Server) wantsPhone(r *http.Request) bool {
	if !s.delivers(account.ChannelPhone) {
		return false
	}
	return r.URL.Query().Get("with") == "phone" || !s.delivers(account.ChannelEmail)
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) error {
	if in, err := s.signedIn(w, r); err != nil || in {
		if err != nil {
			return err
		}
		return redirect(w, r, "/account")
	}
	return s.page(w, r, "signup.html", s.signupView(r, s.flowOf(r, flowSignup), s.wantsPhone(r)))
}

// signup takes every step's form; the hidden field step says which, and
// a step that is not the flow's (an old tab) just shows the flow's.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	f := s.flowOf(r, flowSignup)
	switch step := r.PostForm.Get("step"); {
	case step == "restart":
		s.clearFlow(w)
		if f != nil && f.Channel == string(account.ChannelPhone) {
			return redirect(w, r, "/signup?with=phone")
		}
		return redirect(w, r, "/signup")
	case step == "resend" && f != nil:
		return s.signupStart(w, r, f.Channel == string(account.ChannelPhone), f.Address, true)
	case step == "code" && f != nil && f.Code == "":
		return s.signupCode(w, r, f)
	case step == "password" && f != nil && f.Code != "":
		return s.signupPassword(w, r, f)
	case step == "" || step == "address":
		phone := r.PostForm.Has("phone")
		addr := textField(r, "email")
		if phone {
			addr = textField(r, "phone")
		}
		return s.signupStart(w, r, phone, addr, false)
	case f == nil:
		return invalid("signup.html", s.signupView(r, nil, false), "", errFlowEnded)
	}
	return redirect(w, r, "/signup")
}

// signupStart sends a code to addr: the first step, or "send a new code".
func (s *Server) signupStart(w http.ResponseWriter, r *http.Request, phone bool, addr string, resend bool) error {
	field, email, number, ch := addressField(phone), addr, "", account.ChannelEmail
	if phone {
		email, number, ch = "", addr, account.ChannelPhone
	}
	first := func() *view { return s.signupView(r, nil, phone).keep(field, addr) }
	if addr == "" {
		return invalid("signup.html", first(), field, required)
	}
	id, expires, err := s.accounts.StartRegistration(r.Context(), s.client(r), email, number)
	if err != nil {
		if resend {
			// The code step stays; it says why no new code went out.
			return invalid("signup.html", s.signupView(r, s.flowOf(r, flowSignup), phone), "code", err)
		}
		return invalid("signup.html", first(), field, err)
	}
	if err := s.setFlow(w, &flow{Kind: flowSignup, ID: id, Channel: string(ch), Address: addr, Expires: expires}); err != nil {
		return err
	}
	if resend {
		s.flash(w, "web.flash.code_sent")
	}
	return redirect(w, r, "/signup")
}

// signupCode checks the code before the password is asked for, so that a
// mistyped code is told at once; it is spent only with the password.
func (s *Server) signupCode(w http.ResponseWriter, r *http.Request, f *flow) error {
	code := codeField(r)
	v := s.signupView(r, f, false).keep("code", code)
	if code == "" {
		return invalid("signup.html", v, "code", required)
	}
	if err := s.accounts.CheckRegistrationCode(r.Context(), f.ID, code); err != nil {
		if account.ErrorCode(err) == account.CodeNotFound {
			return s.signupEnded(w, r, f)
		}
		return invalid("signup.html", v, "code", err)
	}
	f.Code = code
	if err := s.setFlow(w, f); err != nil {
		return err
	}
	return redirect(w, r, "/signup")
}

// signupPassword creates the account and signs the browser in.
func (s *Server) signupPassword(w http.ResponseWriter, r *http.Request, f *flow) error {
	pw := r.PostForm.Get("password")
	if pw == "" {
		return invalid("signup.html", s.signupView(r, f, false), "password", required)
	}
	_, tok, err := s.accounts.CompleteRegistration(r.Context(), s.client(r), f.ID, f.Code, pw)
	if err == nil {
		s.startSession(w, r, tok)
		s.flash(w, "web.flash.welcome")
		return redirect(w, r, "/account")
	}
	switch account.ErrorCode(err) {
	case account.CodeInvalidCode, account.CodeCodeExpired:
		// The code went bad since its step (it expired, or was used up):
		// back to the code step, which offers a new one.
		f.Code = ""
		if serr := s.setFlow(w, f); serr != nil {
			return serr
		}
		return invalid("signup.html", s.signupView(r, f, false), "code", err)
	case account.CodeNotFound:
		return s.signupEnded(w, r, f)
	case account.CodeIdentifierInUse:
		s.clearFlow(w)
		phone := f.Channel == string(account.ChannelPhone)
		return invalid("signup.html", s.signupView(r, nil, phone).keep(addressField(phone), f.Address), addressField(phone), err)
	default:
		return invalid("signup.html", s.signupView(r, f, false), "password", err)
	}
}

// addressField is the name of the first step's field.
func addressField(phone bool) string {
	if phone {
		return "phone"
	}
	return "email"
}

// signupEnded starts again at the first step when the domain's flow is
// gone (expired, or ended after too many refused passwords).
func (s *Server) signupEnded(w http.ResponseWriter, r *http.Request, f *flow) error {
	s.clearFlow(w)
	phone := f.Channel == string(account.ChannelPhone)
	return invalid("signup.html", s.signupView(r, nil, phone).keep(addressField(phone), f.Address), "", errFlowEnded)
}
