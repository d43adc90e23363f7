package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/watchword/watchword/internal/account"
)

// The personal center and its sensitive pages: step-up (verify your
// identity again), verifying or changing the email or phone, and changing
// the password. A sensitive page sends the browser to the step-up page by
// itself when the session lacks privilege (the domain answers
// step_up_required), with the page to come back to as ?next=, a local
// path checked by safeNext (never an open redirect); the step-up flow
// then keeps it server-side, sealed in the flow cookie. Changing a
// credential ends every session: the page then says to log in again.

// The kinds of flow of these pages.
const (
	flowStepUp  = "step_up" // a step-up code went to Channel; From is the page to return to
	flowContact = "contact" // a code went to the new Address on Channel
)

// eventsShown is how many recent security events the center lists.
const eventsShown = 10

// centerData is the Data of account.html.
type centerData struct {
	UID           string
	Email, Phone  contactState
	TOTP          bool
	Sessions      []sessionRow
	Events        []eventRow
	HeldUntil     string // the security hold's end, "" when none runs
	CurrentSessID string
}

// contactState is an email or phone as the center shows it.
type contactState struct {
	Address  string
	State    string // "verified", "unverified", "none"
	Link     string // /account/email or /account/phone
	Verified bool
}

type sessionRow struct {
	ID, IP, Device, Created, LastSeen string
	Current                           bool
}

type eventRow struct {
	Kind, Time, IP string // Kind is a message id
}

// stepUpData is the Data of step_up.html.
type stepUpData struct {
	Step     int // 1: the channel, 2: the code
	Next     string
	Channels []stepUpChannel
	Channel  string // step 2: the channel the code went to
	Address  string
	TOTP     bool // an authenticator is bound: its code is asked too
}

type stepUpChannel struct {
	Value, Label, Address string
	Checked               bool
}

// contactData is the Data of contact.html.
type contactData struct {
	Step    int    // 1: the address, 2: the code
	Phone   bool   // the phone page
	Action  string // /account/email or /account/phone
	Address string // step 2: where the code went
	Current string // the address on file, "" when none
	Change  bool   // a verified address is being replaced
}

// passwordData is the Data of password.html.
type passwordData struct{ MinLength int }

// reloginData is the Data of relogin.html.
type reloginData struct{ Reason string } // a message id

// formatTime writes t for the pages, in UTC, the same in every language.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	ctx := r.Context()
	u, hasTOTP, err := s.accounts.Me(ctx, sess)
	if err != nil {
		return err
	}
	sessions, err := s.accounts.Sessions(ctx, sess)
	if err != nil {
		return err
	}
	events, err := s.accounts.SecurityEvents(ctx, sess, eventsShown)
	if err != nil {
		return err
	}
	d := &centerData{
		UID:   u.UID,
		Email: stateOf(u.Email, u.EmailVerified, "/account/email"),
		Phone: stateOf(u.Phone, u.PhoneVerified, "/account/phone"),
		TOTP:  hasTOTP, CurrentSessID: sess.ID,
	}
	if until := s.accounts.SecurityHeld(u); until != nil {
		d.HeldUntil = formatTime(*until)
	}
	for _, x := range sessions {
		row := sessionRow{
			ID: x.ID, IP: x.IP, Device: deviceOf(x.UserAgent), Created: formatTime(x.CreatedAt),
			LastSeen: formatTime(x.LastSeenAt), Current: x.ID == sess.ID,
		}
		if row.Current { // this device first, then the others, newest first
			d.Sessions = append([]sessionRow{row}, d.Sessions...)
		} else {
			d.Sessions = append(d.Sessions, row)
		}
	}
	for _, ev := range events {
		id := "web.center.event." + string(ev.Kind)
		if !s.ids[id] {
			id = "web.center.event.other"
		}
		d.Events = append(d.Events, eventRow{Kind: id, Time: formatTime(ev.CreatedAt), IP: ev.IP})
	}
	return s.page(w, r, "account.html", s.view(r, "web.account.title", d))
}

func stateOf(addr string, verified bool, link string) contactState {
	st := "none"
	switch {
	case addr != "" && verified:
		st = "verified"
	case addr != "":
		st = "unverified"
	}
	return contactState{Address: addr, State: st, Link: link, Verified: st == "verified"}
}

// deviceOf shortens a User-Agent to what a person recognizes.
func deviceOf(ua string) string {
	if ua == "" {
		return "?"
	}
	if len(ua) > 60 {
		ua = ua[:60] + "…"
	}
	return ua
}

// endSession ends one of the account's sessions from the center; ending
// this very one signs the browser out.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	id := textField(r, "session")
	if id == "" {
		return redirect(w, r, "/account")
	}
	err := s.accounts.EndSession(r.Context(), s.client(r), sess, id)
	if err != nil && account.ErrorCode(err) != account.CodeNotFound {
		return err
	}
	if id == sess.ID {
		s.endCookieSession(w, r)
		s.flash(w, "web.flash.logged_out")
		return redirect(w, r, "/login")
	}
	if err == nil {
		s.flash(w, "web.flash.session_ended")
	}
	return redirect(w, r, "/account")
}

// safeNext returns p when it is a page of the personal center to come
// back to after a step-up, else /account: only a local path, never
// another site or scheme.
func safeNext(p string) string {
	if p == "/account" || (strings.HasPrefix(p, "/account/") && p != "/account/step-up" &&
		!strings.ContainsAny(p, "\\?#%@:") && !strings.Contains(p, "//") && !strings.Contains(p, "..")) {
		return p
	}
	return "/account"
}

// toStepUp sends the browser to the step-up page, to come back to next.
func toStepUp(w http.ResponseWriter, r *http.Request, next string) error {
	return redirect(w, r, "/account/step-up?next="+url.QueryEscape(safeNext(next)))
}

// stepUpView returns the step-up page at the step of f (nil: the first).
func (s *Server) stepUpView(r *http.Request, sess *account.Session, f *flow, next string) (*view, error) {
	u, hasTOTP, err := s.accounts.Me(r.Context(), sess)
	if err != nil {
		return nil, err
	}
	if f != nil {
		return s.view(r, "web.center.stepup.code.title", &stepUpData{
			Step: 2, Next: f.From, Channel: f.Channel, Address: f.Address, TOTP: hasTOTP,
		}), nil
	}
	d := &stepUpData{Step: 1, Next: safeNext(next)}
	if u.Email != "" && u.EmailVerified && s.delivers(account.ChannelEmail) {
		d.Channels = append(d.Channels, stepUpChannel{Value: "email", Label: "web.field.email", Address: u.Email})
	}
	if u.Phone != "" && u.PhoneVerified && s.delivers(account.ChannelPhone) {
		d.Channels = append(d.Channels, stepUpChannel{Value: "phone", Label: "web.field.phone", Address: u.Phone})
	}
	if len(d.Channels) > 0 {
		d.Channels[0].Checked = true
	}
	return s.view(r, "web.center.stepup.title", d), nil
}

func (s *Server) stepUpPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	v, err := s.stepUpView(r, sess, s.flowOf(r, flowStepUp), r.URL.Query().Get("next"))
	if err != nil {
		return err
	}
	return s.page(w, r, "step_up.html", v)
}

func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	f := s.flowOf(r, flowStepUp)
	switch step := r.PostForm.Get("step"); {
	case step == "restart":
		next := "/account"
		if f != nil {
			next = f.From
		}
		s.clearFlow(w)
		return toStepUp(w, r, next)
	case step == "code" && f != nil:
		return s.stepUpCode(w, r, sess, f)
	case step == "" || step == "channel":
		return s.stepUpStart(w, r, sess)
	}
	v, err := s.stepUpView(r, sess, nil, "")
	if err != nil {
		return err
	}
	s.clearFlow(w)
	return refused("step_up.html", v, "", errFlowEnded)
}

func (s *Server) stepUpStart(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	next := safeNext(r.PostForm.Get("next"))
	v, err := s.stepUpView(r, sess, nil, next)
	if err != nil {
		return err
	}
	ch := account.Channel(r.PostForm.Get("channel"))
	var addr string
	for _, c := range v.Data.(*stepUpData).Channels {
		if c.Value == string(ch) {
			addr = c.Address
		}
	}
	if addr == "" {
		return invalid("step_up.html", v, "channel", required)
	}
	id, err := s.accounts.StartStepUp(r.Context(), s.client(r), sess, ch)
	if err != nil {
		return invalid("step_up.html", v, "channel", err)
	}
	if err := s.setFlow(w, &flow{Kind: flowStepUp, ID: id, Channel: string(ch), Address: addr, From: next}); err != nil {
		return err
	}
	return redirect(w, r, "/account/step-up")
}

func (s *Server) stepUpCode(w http.ResponseWriter, r *http.Request, sess *account.Session, f *flow) error {
	v, err := s.stepUpView(r, sess, f, "")
	if err != nil {
		return err
	}
	code, totpCode := codeField(r), strings.Join(strings.Fields(width.Narrow.String(r.PostForm.Get("totp"))), "")
	v.keep("code", code)
	hasTOTP := v.Data.(*stepUpData).TOTP
	switch {
	case code == "":
		return invalid("step_up.html", v, "code", required)
	case hasTOTP && totpCode == "":
		return invalid("step_up.html", v, "totp", account.Errorf(account.CodeTOTPRequired, "totp required"))
	}
	_, err = s.accounts.CompleteStepUp(r.Context(), s.client(r), sess, f.ID, code, totpCode)
	switch {
	case err == nil:
	case account.ErrorCode(err) == account.CodeNotFound:
		s.clearFlow(w)
		v1, verr := s.stepUpView(r, sess, nil, f.From)
		if verr != nil {
			return verr
		}
		return refused("step_up.html", v1, "", errFlowEnded)
	case isTOTPError(err):
		return invalid("step_up.html", v, "totp", err)
	default:
		return invalid("step_up.html", v, "code", err)
	}
	// The session now holds the privilege: load it again so that the
	// rotated session keeps it.
	fresh, err := s.accounts.Authenticate(r.Context(), s.info(r).session)
	if err != nil {
		return err
	}
	if err := s.rotateSession(w, r, fresh); err != nil {
		return err
	}
	s.clearFlow(w)
	s.flash(w, "web.flash.stepped_up")
	return redirect(w, r, safeNext(f.From))
}

// contactPath is the page of a channel.
func contactPath(ch account.Channel) string {
	if ch == account.ChannelPhone {
		return "/account/phone"
	}
	return "/account/email"
}

// contactField is the form field of the new address on ch's page.
func contactField(ch account.Channel) string {
	if ch == account.ChannelPhone {
		return "number"
	}
	return "address"
}

// contactPending returns the browser's contact change on ch, or nil.
func (s *Server) contactPending(r *http.Request, ch account.Channel) *flow {
	if f := s.flowOf(r, flowContact); f != nil && f.Channel == string(ch) {
		return f
	}
	return nil
}

func (s *Server) contactView(r *http.Request, sess *account.Session, ch account.Channel, f *flow) (*view, error) {
	u, _, err := s.accounts.Me(r.Context(), sess)
	if err != nil {
		return nil, err
	}
	d := &contactData{Step: 1, Phone: ch == account.ChannelPhone, Action: contactPath(ch)}
	d.Current, d.Change = u.Email, u.EmailVerified
	if d.Phone {
		d.Current, d.Change = u.Phone, u.PhoneVerified
	}
	title := "web.center.email.title"
	if d.Phone {
		title = "web.center.phone.title"
	}
	if f != nil {
		d.Step, d.Address = 2, f.Address
		return s.view(r, title+".code", d), nil
	}
	v := s.view(r, title, d)
	if !d.Change {
		v.keep(contactField(ch), d.Current) // confirm it, or type another
	}
	return v, nil
}

// The pages of the email and of the phone.
func (s *Server) emailPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.contactPage(account.ChannelEmail)(w, r, sess)
}

func (s *Server) email(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.contact(account.ChannelEmail)(w, r, sess)
}

func (s *Server) phonePage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.contactPage(account.ChannelPhone)(w, r, sess)
}

func (s *Server) phone(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.contact(account.ChannelPhone)(w, r, sess)
}

// contactPage is the page of /account/email or /account/phone.
func (s *Server) contactPage(ch account.Channel) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		f := s.contactPending(r, ch)
		if f == nil && !s.accounts.Privileged(sess) {
			return toStepUp(w, r, contactPath(ch))
		}
		v, err := s.contactView(r, sess, ch, f)
		if err != nil {
			return err
		}
		return s.page(w, r, "contact.html", v)
	}
}

// contact takes the steps of /account/email or /account/phone.
func (s *Server) contact(ch account.Channel) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		f := s.contactPending(r, ch)
		switch step := r.PostForm.Get("step"); {
		case step == "restart":
			s.clearFlow(w)
			return redirect(w, r, contactPath(ch))
		case step == "resend" && f != nil:
			return s.contactStart(w, r, sess, ch, f.Address, true)
		case step == "code" && f != nil:
			return s.contactCode(w, r, sess, ch, f)
		case step == "" || step == "address":
			return s.contactStart(w, r, sess, ch, textField(r, contactField(ch)), false)
		}
		s.clearFlow(w)
		v, err := s.contactView(r, sess, ch, nil)
		if err != nil {
			return err
		}
		return refused("contact.html", v, "", errFlowEnded)
	}
}

func (s *Server) contactStart(w http.ResponseWriter, r *http.Request, sess *account.Session, ch account.Channel, addr string, resend bool) error {
	field := contactField(ch)
	var f *flow
	if resend {
		f = s.contactPending(r, ch)
	}
	v, err := s.contactView(r, sess, ch, f)
	if err != nil {
		return err
	}
	if !resend {
		v.keep(field, addr)
	}
	if addr == "" {
		return invalid("contact.html", v, field, required)
	}
	id, err := s.accounts.StartContactChange(r.Context(), s.client(r), sess, ch, addr)
	if account.ErrorCode(err) == account.CodeStepUpRequired {
		s.clearFlow(w)
		return toStepUp(w, r, contactPath(ch))
	}
	if err != nil {
		if resend {
			return invalid("contact.html", v, "code", err)
		}
		return invalid("contact.html", v, field, err)
	}
	if err := s.setFlow(w, &flow{Kind: flowContact, ID: id, Channel: string(ch), Address: addr}); err != nil {
		return err
	}
	if resend {
		s.flash(w, "web.flash.code_sent")
	}
	return redirect(w, r, contactPath(ch))
}

func (s *Server) contactCode(w http.ResponseWriter, r *http.Request, sess *account.Session, ch account.Channel, f *flow) error {
	v, err := s.contactView(r, sess, ch, f)
	if err != nil {
		return err
	}
	code := codeField(r)
	v.keep("code", code)
	if code == "" {
		return invalid("contact.html", v, "code", required)
	}
	err = s.accounts.ConfirmContactChange(r.Context(), s.client(r), sess, ch, f.ID, code)
	if account.ErrorCode(err) == account.CodeNotFound {
		s.clearFlow(w)
		v1, verr := s.contactView(r, sess, ch, nil)
		if verr != nil {
			return verr
		}
		return refused("contact.html", v1, "", errFlowEnded)
	}
	if err != nil {
		return invalid("contact.html", v, "code", err)
	}
	reason := "web.center.relogin.email"
	if ch == account.ChannelPhone {
		reason = "web.center.relogin.phone"
	}
	return s.loggedOutEverywhere(w, r, reason)
}

// loggedOutEverywhere ends the browser's side of a credential change:
// every session already ended; the cookie goes, and the page says to log
// in again.
func (s *Server) loggedOutEverywhere(w http.ResponseWriter, r *http.Request, reason string) error {
	s.clearFlow(w)
	s.endCookieSession(w, r)
	return s.page(w, r, "relogin.html", s.view(r, "web.center.relogin.title", &reloginData{Reason: reason}))
}

func (s *Server) passwordView(r *http.Request) *view {
	return s.view(r, "web.center.password.title", &passwordData{MinLength: s.minLen})
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if !s.accounts.Privileged(sess) {
		return toStepUp(w, r, "/account/password")
	}
	return s.page(w, r, "password.html", s.passwordView(r))
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	pw := r.PostForm.Get("password")
	v := s.passwordView(r) // the password is never kept
	if pw == "" {
		return invalid("password.html", v, "password", required)
	}
	err := s.accounts.ChangePassword(r.Context(), s.client(r), sess, pw)
	if errors.Is(err, account.ErrStepUpRequired) || account.ErrorCode(err) == account.CodeStepUpRequired {
		return toStepUp(w, r, "/account/password")
	}
	if err != nil {
		return invalid("password.html", v, "password", err)
	}
	return s.loggedOutEverywhere(w, r, "web.center.relogin.password")
}

// centerContact is the data of the "center-contact" template: one row of
// the personal center's email or phone.
type centerContact struct {
	View        *view
	Name, Label string
	State       contactState
}

// CenterContact returns the row of the center's "email" or "phone".
func (v *view) CenterContact(name string) centerContact {
	d, _ := v.Data.(*centerData)
	if d == nil {
		return centerContact{View: v, Name: name, Label: "web.field.email"}
	}
	if name == "phone" {
		return centerContact{View: v, Name: name, Label: "web.field.phone", State: d.Phone}
	}
	return centerContact{View: v, Name: name, Label: "web.field.email", State: d.Email}
}

// isTOTPError reports whether err is about the authenticator's code.
func isTOTPError(err error) bool {
	switch account.ErrorCode(err) {
	case account.CodeTOTPRequired, account.CodeInvalidTOTP, account.CodeClockDrift:
		return true
	}
	return false
}
