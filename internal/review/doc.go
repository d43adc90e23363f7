// Package review is the lost-authenticator workflow: identity
// verification, requests to unbind an authenticator with evidence (a photo
// and a selfie video saying a spoken challenge), and their review by staff
// within three working days.
//
// It declares its own store interfaces (Verifications, Unbinds, Files,
// Audit) and a transaction type that embeds account.Tx, so that a decision
// and its effect on the account (the authenticator removed, every session
// ended, the security hold) commit together. The rules about sessions,
// credentials, notices and limits stay in package account; this package
// calls them through account.Service.
//
// Requests are state machines kept as rows: pending → approved (→ in
// effect) | rejected | cancelled. Every transition is a guarded UPDATE
// whose row count is checked, so deciding twice, two reviewers at once, or
// a cancellation racing an approval yield exactly one outcome.
package review
