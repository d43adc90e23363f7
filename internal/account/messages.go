package account

import (
	"bytes"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/i18n"
)

// Every text of a mail or SMS lives in the message catalog (package i18n,
// locales/mail.LANG.json), one text per language under an id made from
// the keys below; this file only puts the pieces together. Every message
// that carries a code shows it as the only standalone run of exactly six
// digits, so clients and tests can find it; the texts therefore spell out
// numbers ("ten minutes", "十分钟"), and notices carry no such run.

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

// noticeArgs lists every notice with the names its values take in the
// catalog's texts ({{.Address}}), in the order callers pass them to
// Notify: a translation may then place them wherever its grammar wants.
var noticeArgs = map[MessageKey][]string{
	NoticeSignUpAttempt:    nil,
	NoticePasswordChanged:  nil,
	NoticeEmailSet:         {"Address"},
	NoticeEmailChanged:     {"OldAddress", "Address"},
	NoticePhoneSet:         {"Address"},
	NoticePhoneChanged:     {"OldAddress", "Address"},
	NoticeTOTPEnabled:      nil,
	NoticeTOTPDisabled:     nil,
	NoticeRecoveryUsed:     nil,
	NoticeUnbindFiled:      {"Request", "Due", "CancelURL"},
	NoticeUnbindApproved:   {"Request", "Effective"},
	NoticeUnbindApplied:    {"Request"},
	NoticeUnbindRejected:   {"Request", "Reason"},
	NoticeUnbindCancelled:  {"Request"},
	NoticeIdentityApproved: nil,
	NoticeIdentityRejected: {"Reason"},
}

// plainNotices answer the user's own requests (decisions): they go
// without the "if this was not you" footer of security notices.
var plainNotices = map[MessageKey]bool{
	NoticeUnbindRejected: true, NoticeIdentityApproved: true, NoticeIdentityRejected: true,
}

// codePurposes are the purposes whose codes say what they are for; any
// other purpose (none sends a code today) gets the generic "other".
var codePurposes = []Purpose{PurposeRegister, PurposeLogin, PurposeStepUp, PurposeVerifyEmail, PurposeVerifyPhone}

// The catalog ids of the texts around the notices and codes.
const (
	idCodeEmailSubject = "mail.code.email.subject"
	idCodeEmailBody    = "mail.code.email.body"
	idCodeSMS          = "mail.code.sms"
	idCodePurpose      = "mail.code.purpose."  // + purpose, or "other"
	idNoticeSubject    = "mail.notice.subject" // issuer and subject
	idNoticeSMS        = "mail.notice.sms"     // issuer and body
	idNoticeFooter     = "mail.notice.footer"
	idTimeLayout       = "mail.time" // a Go time layout: dates are written the reader's way
)

// noticeID is the catalog id of part ("subject" or "body") of notice key.
func noticeID(key MessageKey, part string) string { return "mail." + string(key) + "." + part }

// codeMessage is the message that delivers code for flow f, in lang.
func (s *Service) codeMessage(f *Flow, code string, lang i18n.Lang) *Message {
	p := "other"
	if slices.Contains(codePurposes, f.Purpose) {
		p = string(f.Purpose)
	}
	data := map[string]any{"Issuer": s.cfg.Issuer, "Code": code, "Purpose": s.catalog.T(lang, idCodePurpose+p, nil)}
	if f.Channel == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: f.Address, Text: s.catalog.T(lang, idCodeSMS, data)}
	}
	text := s.catalog.T(lang, idCodeEmailBody, data) + "\n"
	return &Message{Channel: ChannelEmail, To: f.Address, Subject: s.catalog.T(lang, idCodeEmailSubject, data),
		Text: text, HTML: renderHTML(text)}
}

// notice builds the notice key for one channel and address, in lang.
// args fill the names noticeArgs gives key; a time.Time is written in
// lang's way.
func (s *Service) notice(ch Channel, to string, lang i18n.Lang, key MessageKey, args ...any) *Message {
	data := map[string]any{"Issuer": s.cfg.Issuer}
	for i, name := range noticeArgs[key] {
		if i >= len(args) {
			break
		}
		v := args[i]
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(s.catalog.T(lang, idTimeLayout, nil))
		}
		data[name] = v
	}
	body := s.catalog.T(lang, noticeID(key, "body"), data)
	if ch == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: to,
			Text: s.catalog.T(lang, idNoticeSMS, map[string]any{"Issuer": s.cfg.Issuer, "Body": body})}
	}
	text := body + "\n"
	if !plainNotices[key] {
		text = body + "\n\n" + s.catalog.T(lang, idNoticeFooter, nil) + "\n"
	}
	subject := s.catalog.T(lang, idNoticeSubject, map[string]any{
		"Issuer": s.cfg.Issuer, "Subject": s.catalog.T(lang, noticeID(key, "subject"), data)})
	return &Message{Channel: ChannelEmail, To: to, Subject: subject, Text: text, HTML: renderHTML(text)}
}

// alreadyRegisteredNotice answers a sign-up with an address that already
// has an account: its owner learns of it, the requester learns nothing.
func (s *Service) alreadyRegisteredNotice(owner *User, ch Channel, to string) *Message {
	return s.notice(ch, to, userLang(owner), NoticeSignUpAttempt)
}

// noticesTo returns the same notice, in u's language, for every verified
// channel of u that this server delivers to. An SMS the pumping defence
// holds back is left out; the email still goes.
func (s *Service) noticesTo(u *User, key MessageKey, args ...any) []*Message {
	var out []*Message
	for _, ch := range []Channel{ChannelEmail, ChannelPhone} {
		if addr, verified := contactOf(u, ch); addr != "" && verified && slices.Contains(s.cfg.Channels, ch) {
			if ch == ChannelPhone && !s.allowNoticeSMS(addr) {
				continue
			}
			out = append(out, s.notice(ch, addr, userLang(u), key, args...))
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
