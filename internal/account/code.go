package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/identifier"
	"github.com/watchword/watchword/internal/token"
)

// codeDigits is the length of one-time codes: 6 random digits are about
// 20 bits, enough with 5 tries per code and the sending limits.
const codeDigits = 6

// newFlow creates a flow record (not yet stored) and returns its public id.
func (s *Service) newFlow(p Purpose, ch Channel, address, uid string) (string, *Flow, error) {
	id, hash, err := s.newID("flow", 16)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	return id, &Flow{
		IDHash: hash, Purpose: p, UID: uid, Channel: ch, Address: address,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL),
	}, nil
}

// addressKey is the look-up key of a normalized address: emails fold
// ASCII case only (see identifier.Email for why).
func addressKey(ch Channel, address string) string {
	if ch == ChannelEmail {
		return identifier.EmailKey(address)
	}
	return address
}

// requireChannel refuses an address on a channel that this server cannot
// deliver to: accepting it would answer as if a code were on its way.
func (s *Service) requireChannel(ch Channel) error {
	if slices.Contains(s.cfg.Channels, ch) {
		return nil
	}
	if ch == ChannelPhone {
		return Errorf(CodeInvalidPhone, "This service does not send text messages. Use your email address.")
	}
	return Errorf(CodeInvalidEmail, "This service does not send email. Use your phone number.")
}

// codeKey is the key f's code is stored under: its address, and for a new
// address of an account also the account, so that one account asking to
// verify an address cannot replace the pending code of another account
// that asked for the same address (the first to confirm gets it, the
// other is told identifier_in_use). The uid has a fixed length, so the
// key stays unambiguous.
func codeKey(f *Flow) string {
	key := addressKey(f.Channel, f.Address)
	if f.Purpose == PurposeVerifyEmail || f.Purpose == PurposeVerifyPhone {
		key = f.UID + ":" + key
	}
	return key
}

// issueCode stores a new code for f (replacing any older one of the same
// purpose and code key) and queues its message in lang, both within tx.
func (s *Service) issueCode(ctx context.Context, tx Tx, f *Flow, lang i18n.Lang) error {
	code, err := token.Digits(s.random, codeDigits)
	if err != nil {
		return err
	}
	key := codeKey(f)
	c := &OneTimeCode{
		Purpose: f.Purpose, AddressKey: key, FlowIDHash: f.IDHash,
		Hash: s.hasher.Hash(codeHashParts(f, code)...), CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt,
	}
	if err := tx.PutCode(ctx, c); err != nil {
		return fmt.Errorf("store code: %w", err)
	}
	return s.enqueue(ctx, tx, s.codeMessage(f, code, lang))
}

// issueDecoyCode does for an address without an account the work that
// issueCode does for a real one (a code drawn, its row stored, its message
// rendered, sealed and written), so that the answer takes as long. The
// row's hash matches no code (the code drawn is never hashed into it) and
// the message is a decoy, which the store keeps as given up, without
// recipient or body.
func (s *Service) issueDecoyCode(ctx context.Context, tx Tx, f *Flow) error {
	code, err := token.Digits(s.random, codeDigits)
	if err != nil {
		return err
	}
	unmatchable, _, err := s.newID("decoy", 16)
	if err != nil {
		return err
	}
	c := &OneTimeCode{
		Purpose: f.Purpose, AddressKey: codeKey(f), FlowIDHash: f.IDHash,
		Hash: s.hasher.Hash("decoy", unmatchable), CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt,
	}
	if err := tx.PutCode(ctx, c); err != nil {
		return fmt.Errorf("store code: %w", err)
	}
	m := s.codeMessage(f, code, i18n.English)
	m.Decoy = true
	return s.enqueue(ctx, tx, m)
}

// codeHashParts binds a code to its flow, purpose and address, so a code
// is never accepted anywhere else.
func codeHashParts(f *Flow, code string) []string {
	return []string{"code", string(f.Purpose), addressKey(f.Channel, f.Address), string(f.IDHash), code}
}

// checkCode verifies code against the live code of flow f without using
// it up; the caller consumes it in the transaction that acts on it. A
// wrong code counts one try, committed at once so that it stands even if
// the request fails later. Malformed input counts too: it is not a free
// probe.
//
// Every wrong answer also counts in the address's streak, over all flows
// and purposes (a new code does not bring fresh guesses), and past
// Limits.CodeDelay.Free in a row the next try waits a growing delay
// (CodeRateLimited). A flow without a code (an address of no account)
// counts the same, so the delays reveal nothing. A right code ends the
// streak. Checks of one address take turns, as passwords do.
func (s *Service) checkCode(ctx context.Context, f *Flow, code string) error {
	g := codeGuess(addressKey(f.Channel, f.Address))
	release, err := s.turns.wait(ctx, string(g), s.cfg.Limits.GuessesInFlight)
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkDelay(ctx, g); err != nil {
		return err
	}
	wrong := func() error {
		if err := s.guessFailed(ctx, g, s.cfg.Limits.CodeDelay); err != nil {
			return err
		}
		return ErrInvalidCode
	}
	key := codeKey(f)
	c, err := s.store.CodeFor(ctx, f.Purpose, key)
	if isNoRows(err) {
		return wrong()
	}
	if err != nil {
		return fmt.Errorf("load code: %w", err)
	}
	if !token.Equal(c.FlowIDHash, f.IDHash) || c.ConsumedAt != nil || c.Attempts >= s.cfg.CodeMaxAttempts {
		return wrong()
	}
	if !s.now().Before(c.ExpiresAt) {
		return ErrCodeExpired
	}
	if !wellFormedCode(code) || !s.hasher.Match(c.Hash, codeHashParts(f, code)...) {
		if _, err := s.store.FailCode(ctx, f.Purpose, key, f.IDHash); err != nil && !isNoRows(err) {
			return fmt.Errorf("count wrong code: %w", err)
		}
		return wrong()
	}
	s.guessSucceeded(ctx, g)
	return nil
}

// consumeCode uses up the code of f inside tx. Losing a race to another
// request with the same code is reported as an invalid code.
func (s *Service) consumeCode(ctx context.Context, tx Tx, f *Flow) error {
	err := tx.ConsumeCode(ctx, f.Purpose, codeKey(f), f.IDHash, s.cfg.CodeMaxAttempts, s.now())
	if isConflict(err) {
		return ErrInvalidCode
	}
	if err != nil {
		return fmt.Errorf("consume code: %w", err)
	}
	if err := tx.FinishFlow(ctx, f.IDHash, s.now()); err != nil {
		if isConflict(err) {
			return ErrInvalidCode
		}
		return fmt.Errorf("finish flow: %w", err)
	}
	s.smsCodeEntered(ctx, tx, f)
	return nil
}

// wellFormedCode reports whether code is exactly six ASCII digits.
func wellFormedCode(code string) bool {
	if len(code) != codeDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// limitSend applies the sending limits of codes and notices to an
// address: one per purpose per resend interval (when resend is set) and a
// cap per address over all purposes, then for a phone the SMS pumping
// defence (sms.go). The answer is the same whether or not the address
// belongs to an account.
func (s *Service) limitSend(ctx context.Context, p Purpose, key string, resend bool) error {
	phone := isPhoneKey(key)
	if phone {
		if err := s.screenSMS(ctx, key); err != nil {
			return err
		}
	}
	if resend {
		if err := s.take(ctx, "send:"+string(p)+":"+key, s.cfg.Limits.CodeResend); err != nil {
			return err
		}
	}
	if err := s.take(ctx, "send:addr:"+key, s.cfg.Limits.CodesPerAddress); err != nil {
		return err
	}
	if phone {
		return s.admitSMS(ctx, key)
	}
	return nil
}

// loadFlow returns the live flow with public id, checking its purpose.
// Unknown, finished and mismatched flows are all "not found". An expired
// flow that carried a code (it lives exactly as long as its code) is
// "code expired", so the user learns to ask for a new code; an expired
// second-factor flow is "not found".
func (s *Service) loadFlow(ctx context.Context, id string, purposes ...Purpose) (*Flow, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrFlowNotFound
	}
	f, err := findByHash(ctx, s.hasher.Hashes("flow", id), s.store.FlowByIDHash)
	if isNoRows(err) {
		return nil, ErrFlowNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	if f.DoneAt != nil || !slices.Contains(purposes, f.Purpose) {
		return nil, ErrFlowNotFound
	}
	if !s.now().Before(f.ExpiresAt) {
		if f.Purpose == PurposeLoginMFA {
			return nil, ErrFlowNotFound
		}
		return nil, ErrCodeExpired
	}
	return f, nil
}

// findByHash looks a row up by the keyed hash of its id under each key,
// the current first, so that ids hashed before a key rotation are still
// found. ErrNoRows when none matches.
func findByHash[T any](ctx context.Context, hashes [][]byte, find func(context.Context, []byte) (T, error)) (T, error) {
	var zero T
	for _, hash := range hashes {
		row, err := find(ctx, hash)
		if err == nil || !isNoRows(err) {
			return row, err
		}
	}
	return zero, ErrNoRows
}

// isConflict reports whether a write lost to a constraint or a race.
func isConflict(err error) bool { return errors.Is(err, ErrConflict) }
