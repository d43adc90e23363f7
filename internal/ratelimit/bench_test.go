package ratelimit_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/ratelimit"
)

func BenchmarkTake(b *testing.B) {
	newRedis := func(b *testing.B) ratelimit.Limiter {
		client := redisClient(b)
		return ratelimit.NewRedis(client, randomPrefix(b, client))
	}
	limiters := []struct {
		name string
		new  func(b *testing.B) ratelimit.Limiter
	}{
		{"Memory", func(*testing.B) ratelimit.Limiter { return ratelimit.NewMemory(nil) }},
		{"Redis", newRedis},
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:10.0.%d.%d", i/256, i%256)
	}
	for _, lim := range limiters {
		b.Run(lim.name, func(b *testing.B) {
			l := lim.new(b)
			i := 0
			for b.Loop() {
				if _, err := l.Take(b.Context(), keys[i%len(keys)], 1<<30, time.Minute); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(lim.name+"/Parallel", func(b *testing.B) {
			l := lim.new(b)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := keys[next.Add(1)%int64(len(keys))]
					if _, err := l.Take(b.Context(), key, 1<<30, time.Minute); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
