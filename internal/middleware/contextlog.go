package middleware

import (
	"context"
	"log/slog"
)

// ContextLogHandler wraps h so that every record logged with a context (the
// *Context methods of slog.Logger, and LogAttrs) carries the request_id and
// client_ip of the request in that context, as stored by RequestID and
// ClientIP.Handler. A line logged deep in a use case can then be joined to
// its request and its client without each caller passing them along.
//
// An attribute the record already carries under the same key (AccessLog's,
// say) is not added again, so no line has the key twice. Under WithGroup the
// attributes land in the group, as any attribute of the record does.
func ContextLogHandler(h slog.Handler) slog.Handler {
	return &contextLogHandler{inner: h}
}

type contextLogHandler struct {
	inner slog.Handler
	// hasID and hasIP report whether WithAttrs already gave every record
	// of this handler the key.
	hasID, hasIP bool
	grouped      bool // WithGroup was called: later attributes are not top level
}

func (h *contextLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *contextLogHandler) Handle(ctx context.Context, r slog.Record) error {
	id, ip := RequestIDFrom(ctx), ClientIPFrom(ctx)
	addID, addIP := id != "" && !h.hasID, ip != "" && !h.hasIP
	if addID || addIP {
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "request_id":
				addID = false
			case "client_ip":
				addIP = false
			}
			return addID || addIP
		})
	}
	if addID || addIP {
		r = r.Clone() // the record's attributes may be shared with other handlers
		if addID {
			r.AddAttrs(slog.String("request_id", id))
		}
		if addIP {
			r.AddAttrs(slog.String("client_ip", ip))
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h *contextLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(attrs)
	if !h.grouped {
		for _, a := range attrs {
			switch a.Key {
			case "request_id":
				c.hasID = true
			case "client_ip":
				c.hasIP = true
			}
		}
	}
	return &c
}

func (h *contextLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	if name != "" {
		c.grouped = true
	}
	return &c
}
