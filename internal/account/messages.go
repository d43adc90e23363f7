package account

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// Every message that carries a code shows it as the only standalone run of
// exactly six digits, so clients and tests can find it; the texts below
// therefore spell out numbers ("ten minutes").

// codeMessage is the message that delivers code for flow f.
func (s *Service) codeMessage(f *Flow, code string) *Message {
	var what string
	switch f.Purpose {
	case PurposeRegister:
		what = "to finish signing up"
	case PurposeLogin:
		what = "to sign in"
	case PurposeStepUp:
		what = "to confirm it is you before a security change"
	case PurposeVerifyEmail:
		what = "to verify this email address"
	case PurposeVerifyPhone:
		what = "to verify this phone number"
	default:
		what = "to continue"
	}
	issuer := s.cfg.Issuer
	if f.Channel == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: f.Address,
			Text: fmt.Sprintf("%s code %s. Use it %s. It expires in ten minutes. Never share it.", issuer, code, what)}
	}
	text := fmt.Sprintf("Your %s code is:\n\n    %s\n\nUse it %s. It expires in ten minutes and works once.\n"+
		"Nobody from %s will ever ask you for it. If you did not ask for this code, ignore this email; your account stays safe.\n",
		issuer, code, what, issuer)
	return &Message{Channel: ChannelEmail, To: f.Address, Subject: "Your " + issuer + " code",
		Text: text, HTML: renderHTML(text)}
}

// notice builds a message without a code for one channel.
func (s *Service) notice(ch Channel, to, subject, body string) *Message {
	if ch == ChannelPhone {
		return &Message{Channel: ChannelPhone, To: to, Text: s.cfg.Issuer + ": " + body}
	}
	text := body + "\n\nIf this was not you, contact support at once.\n"
	return &Message{Channel: ChannelEmail, To: to, Subject: s.cfg.Issuer + ": " + subject, Text: text, HTML: renderHTML(text)}
}

// alreadyRegisteredNotice answers a sign-up with an address that already
// has an account: its owner learns of it, the requester learns nothing.
func (s *Service) alreadyRegisteredNotice(ch Channel, to string) *Message {
	return s.notice(ch, to, "sign-up attempt",
		"Someone tried to sign up with this address, which already belongs to your account. "+
			"If it was you, sign in instead. No new account was created.")
}

// noticesTo returns the same notice for every verified channel of u.
func (s *Service) noticesTo(u *User, subject, body string) []*Message {
	var out []*Message
	if u.Email != "" && u.EmailVerified {
		out = append(out, s.notice(ChannelEmail, u.Email, subject, body))
	}
	if u.Phone != "" && u.PhoneVerified {
		out = append(out, s.notice(ChannelPhone, u.Phone, subject, body))
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
