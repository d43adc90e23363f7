// Package account is watchword's domain: accounts with an email and a
// phone, one-time codes, sessions, step-up, identifier changes and the
// authenticator app, with every rule that protects them (limits, single
// use, notices, the security log).
//
// Service holds the use cases; HTTP adapters call it and render its
// *Error values. It depends only on the standard library and the leaf
// packages password, totp, token, identifier and i18n; storage (Store),
// rate limiting (Limiter) and delivery (Waker) are small interfaces that
// the command wires to sqlstore, ratelimit and outbox.
//
// One file per workflow: register.go, login.go, code.go, session.go,
// stepup.go, contact.go, totp.go; messages.go builds what users are told
// from the texts of package i18n, in their language (language.go).
package account
