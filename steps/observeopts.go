package steps

import "context"

// ObserveOptions say how a backend's Observe may use what it observed on an
// earlier run. The pipeline sets them on Observe's context (WithObserveOptions).
type ObserveOptions struct {
	// Dir is a private directory (mode 0700) where a backend may keep its
	// last full observation between runs, so a push can skip the reads of
	// what cannot have changed; "" keeps none: everything is read live.
	Dir string
	// Full forces every read live, whatever Dir holds: the periodic drift
	// check and `runner plan --refresh=full`.
	Full bool
}

type observeOptsKey struct{}

// WithObserveOptions returns ctx carrying o for the backends' Observe.
func WithObserveOptions(ctx context.Context, o ObserveOptions) context.Context {
	return context.WithValue(ctx, observeOptsKey{}, o)
}

// ObserveOptionsFrom returns the options set on ctx; without any, the zero
// value: nothing kept, everything read live.
func ObserveOptionsFrom(ctx context.Context) ObserveOptions {
	o, _ := ctx.Value(observeOptsKey{}).(ObserveOptions)
	return o
}
