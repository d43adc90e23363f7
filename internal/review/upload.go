package review

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// draft collects the files of one submission as they stream in. The
// delivery reads a multipart body part by part and hands each file to Add,
// so no file is ever held whole in memory; Submit of the owning draft
// stores the submission, and Discard deletes whatever was stored when the
// submission fails at any point.
type draft struct {
	s     *Service
	roles []Role // the files the submission needs
	files map[Role]*Stored
}

func (s *Service) newDraft(roles ...Role) draft {
	return draft{s: s, roles: roles, files: map[Role]*Stored{}}
}

// Add streams the file of role from r into the evidence store.
//
// Errors: CodeInvalidRequest (a role this submission does not take, or
// one already given), CodeTooLarge, CodeUnsupportedMediaType.
func (d *draft) Add(ctx context.Context, role Role, r io.Reader) error {
	if !slices.Contains(d.roles, role) {
		return invalidf("Unexpected file %q.", role)
	}
	if d.files[role] != nil {
		return invalidf("The file %q was sent twice.", role)
	}
	st, err := d.s.evidence.Ingest(ctx, kindOf[role], r)
	if err != nil {
		return err
	}
	d.files[role] = st
	return nil
}

// Discard deletes every file stored so far. Call it when the submission
// is not going to be made.
func (d *draft) Discard(ctx context.Context) {
	for role, st := range d.files {
		for _, id := range []string{st.BlobID, st.ViewBlobID} {
			if id == "" {
				continue
			}
			if err := d.s.evidence.Delete(context.WithoutCancel(ctx), id); err != nil {
				d.s.log.ErrorContext(ctx, "delete evidence of a discarded upload", "role", role, "err", err)
			}
		}
		delete(d.files, role)
	}
}

// complete checks that every file was given.
func (d *draft) complete() error {
	for _, role := range d.roles {
		if d.files[role] == nil {
			return invalidf("The file %q is missing.", role)
		}
	}
	return nil
}

// record adds the index rows of the draft's files to tx under subject.
func (d *draft) record(ctx context.Context, tx Tx, subject string) error {
	for _, role := range d.roles {
		st := d.files[role]
		f := &File{
			Subject: subject, Role: role, BlobID: st.BlobID, ViewBlobID: st.ViewBlobID,
			ContentType: st.ContentType, Size: st.Size, CreatedAt: d.s.now(),
		}
		if err := tx.AddFile(ctx, f); err != nil {
			return fmt.Errorf("record %s: %w", role, err)
		}
	}
	return nil
}
