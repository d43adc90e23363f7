// Package password hashes passwords with argon2id and decides which new
// passwords are acceptable.
//
// Argon2id won the Password Hashing Competition and is the first choice of
// RFC 9106 and the OWASP Password Storage Cheat Sheet: it is memory-hard, so
// GPU and ASIC guessing rigs gain little over a server CPU, and its hybrid
// mode resists both side-channel and time-memory trade-off attacks. Unlike
// bcrypt it has no 72-byte input limit, so long passphrases are hashed whole.
// DefaultParams are OWASP's minimum configuration (m=19456 KiB, t=2, p=1):
// about 19 MiB and a few tens of milliseconds per login on one core, which
// keeps a login server responsive under load while making each offline guess
// expensive. Hashes are stored as PHC strings that carry their own
// parameters, so the cost can be raised later: old hashes still verify and
// VerifyRehash tells the caller when to upgrade one after a successful login.
//
// Hashing, verifying and the policy all work on the password's Unicode NFC
// form (Normalize), so a password typed on another keyboard, which may send
// "é" as "e" plus a combining accent, still matches.
package password
