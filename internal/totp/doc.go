// Package totp implements RFC 6238 time-based one-time passwords the way
// Google Authenticator and compatible apps read them: HMAC-SHA-1, 6 digits,
// 30-second steps. It wraps the HOTP primitive of github.com/pquerna/otp.
//
// Every function takes the time explicitly instead of reading the clock, so
// callers decide what "now" is (one clock for a whole request, fixed clocks
// in tests) and the same code can be checked against a learned phone-clock
// offset. pquerna's totp.Validate is deliberately not used: it reads
// time.Now and reports only a bool.
//
// Verify reports the time step a code belongs to, not just whether it
// matched. A code is valid for a whole step (and for neighbouring steps
// inside the window), so a bool alone cannot stop someone who saw a code
// from using it again. The caller records (user, step) in the store under a
// unique constraint; a conflict there means the code was replayed.
package totp
