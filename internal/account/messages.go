package account

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strings"
)

// Every text of a mail or SMS lives in this file, under a key, so that a
// translation keys on the same names. Every message that carries a code
// shows it as the only standalone run of exactly six digits, so clients
// and tests can find it; the texts therefore spell out numbers ("ten
// minutes").

// MessageKey names a notice (a message without a code).
type MessageKey string

// The notices.
const (
	NoticeSignUpAttempt   MessageKey = "notice.signup_attempt"
	NoticePasswordChanged MessageKey = "notice.password_changed"
	NoticeEmailSet        MessageKey = "notice.email_set"
	NoticeEmailChanged    MessageKey = "notice.email_changed"
	NoticePhoneSet        MessageKey = "notice.phone_set"
	NoticePhoneChanged    MessageKey = "notice.phone_changed"
	NoticeTOTPEnabled     MessageKey = "notice.totp_enabled"
	NoticeTOTPDisabled    MessageKey = "notice.totp_disabled"
	NoticeRecoveryUsed    MessageKey = "notice.recovery_code_used"
	// The lost-authenticator review (package review).
	NoticeUnbindFiled      MessageKey = "notice.unbind_filed"
	NoticeUnbindApproved   MessageKey = "notice.unbind_approved"
	NoticeUnbindApplied    MessageKey = "notice.unbind_applied"
	NoticeUnbindRejected   MessageKey = "notice.unbind_rejected"
	NoticeUnbindCancelled  MessageKey = "notice.unbind_cancelled"
	NoticeIdentityApproved MessageKey = "notice.identity_approved"
	NoticeIdentityRejected MessageKey = "notice.identity_rejected"
)

// noticeText is a notice in one language: the subject of the email and
// the body of both the email and the SMS, with fmt verbs for its values.
type noticeText struct{ subject, body string }

// plainNotices answer the user's own requests (decisions): they go
// without the "if this was not you" footer of security notices.
var plainNotices = map[MessageKey]bool{
	NoticeUnbindRejected: true, NoticeIdentityApproved: true, NoticeIdentityRejected: true,
}

// englishNotices are the notices in English.
var englishNotices = map[MessageKey]noticeText{
	NoticeSignUpAttempt: {"sign-up attempt", "Someone tried to sign up with this address, which already belongs to your account. " +
		"If it was you, sign in instead. No new account was created."},
	NoticePasswordChanged: {"password changed", "The password of your account was changed. All your sessions were signed out."},
	NoticeEmailSet:        {"email address changed", "The email address of your account was set to %s. All your sessions were signed out."},
	NoticeEmailChanged: {"email address changed",
		"The email address of your account was changed from %s to %s. All your sessions were signed out."},
	NoticePhoneSet: {"phone number changed", "The phone number of your account was set to %s. All your sessions were signed out."},
	NoticePhoneChanged: {"phone number changed",
		"The phone number of your account was changed from %s to %s. All your sessions were signed out."},
	NoticeTOTPEnabled: {"authenticator connected", "An authenticator app was connected to your account. " +
		"It is now needed to sign in and for security changes. Your other sessions were signed out."},
	NoticeTOTPDisabled: {"authenticator removed", "The authenticator app was removed from your account. Your other sessions were signed out."},
	NoticeRecoveryUsed: {"recovery code used", "A recovery code of your account was used; each code works once. " +
		"If you still have your authenticator app, turn it off and on again to get new codes."},
	NoticeUnbindFiled: {"request to remove your authenticator", "Someone who signed in with your password asked to remove " +
		"the authenticator app from your account (request %s). Staff will review it by %s. " +
		"If this was not you, cancel it now and change your password: %s"},
	NoticeUnbindApproved: {"authenticator removal approved", "Your request %s to remove the authenticator app was approved. " +
		"It takes effect on %s; until then you can still cancel it with the link of our first message."},
	NoticeUnbindApplied: {"authenticator removed", "The authenticator app was removed from your account after review " +
		"(request %s). All sessions were signed out. Sign in with your password and connect a new authenticator."},
	NoticeUnbindRejected: {"authenticator removal rejected", "Your request %s to remove the authenticator app was rejected: %s. " +
		"The authenticator stays connected."},
	NoticeUnbindCancelled: {"authenticator removal cancelled", "The request %s to remove the authenticator app was cancelled. " +
		"The authenticator stays connected."},
	NoticeIdentityApproved: {"identity verified", "Your identity verification was approved."},
	NoticeIdentityRejected: {"identity verification rejected", "Your identity verification was rejected: %s. " +
		"You can submit it again in your personal center."},
}

// codePurposeText says what a code is for, completing "Use it …".
var codePurposeText = map[Purpose]string{
	PurposeRegister:    "to finish signing up",
	PurposeLogin:       "to sign in",
	PurposeStepUp:      "to confirm it is you before a security change",
	PurposeVerifyEmail: "to verify this email address",
	PurposeVerifyPhone: "to verify this phone number",
}

const (
	codeSMSText   = "%[1]s code %[2]s. Use it %[3]s. It expires in ten minutes. Never share it."
	codeEmailText = "Your %[1]s code is:\n\n    %[2]s\n\nUse it %[3]s. It expires in ten minutes and works once.\n" +
		"Nobody from %[1]s will ever ask you for it. If you did not ask for this code, ignore this email; your account stays safe.\n"
	codeEmailSubject   = "Your %s code"
	noticeEmailFooter  = "\n\nIf this was not you, contact support at once.\n"
	noticeSubjectForm  = "%s: %s" // issuer: subject
	noticeSMSForm      = "%s: %s" // issuer: body
	codePurposeDefault = "to continue"
)

// codeMessage is the message that delivers code for flow f.
func (s *Service) codeMessage(f *Flow, code string) *Message {
	what, ok := codePurposeText[f.Purpose]
	if !ok {
		what = codePurposeDefault
	}
	issuer := s.cfg.Issuer
	if f.Channel == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: f.Address, Text: fmt.Sprintf(codeSMSText, issuer, code, what)}
	}
	text := fmt.Sprintf(codeEmailText, issuer, code, what)
	return &Message{Channel: ChannelEmail, To: f.Address, Subject: fmt.Sprintf(codeEmailSubject, issuer),
		Text: text, HTML: renderHTML(text)}
}

// notice builds the notice key for one channel and address.
func (s *Service) notice(ch Channel, to string, key MessageKey, args ...any) *Message {
	t := englishNotices[key]
	body := fmt.Sprintf(t.body, args...)
	if ch == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: to, Text: fmt.Sprintf(noticeSMSForm, s.cfg.Issuer, body)}
	}
	text := body + "\n"
	if !plainNotices[key] {
		text = body + noticeEmailFooter
	}
	return &Message{Channel: ChannelEmail, To: to, Subject: fmt.Sprintf(noticeSubjectForm, s.cfg.Issuer, t.subject),
		Text: text, HTML: renderHTML(text)}
}

// alreadyRegisteredNotice answers a sign-up with an address that already
// has an account: its owner learns of it, the requester learns nothing.
func (s *Service) alreadyRegisteredNotice(ch Channel, to string) *Message {
	return s.notice(ch, to, NoticeSignUpAttempt)
}

// noticesTo returns the same notice for every verified channel of u that
// this server delivers to.
func (s *Service) noticesTo(u *User, key MessageKey, args ...any) []*Message {
	var out []*Message
	for _, ch := range []Channel{ChannelEmail, ChannelPhone} {
		if addr, verified := contactOf(u, ch); addr != "" && verified && slices.Contains(s.cfg.Channels, ch) {
			out = append(out, s.notice(ch, addr, key, args...))
		}
	}
	return out
}

var htmlTemplate = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif;line-height:1.5">{{range .}}<p>{{.}}</p>{{end}}</body></html>`))

// renderHTML turns the text part into a plain HTML part, escaped.
func renderHTML(text string) string {
	var paras []string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paras = append(paras, p)
		}
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, paras); err != nil {
		return ""
	}
	return b.String()
}
