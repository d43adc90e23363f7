package smsguard

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Conversions = (*Redis)(nil)

// Redis is Conversions shared by every instance that uses the same Redis
// and prefix. Each scope has four keys under one hash tag (so a cluster
// keeps them on one node for the scripts): a sorted set of the codes
// sent, scored by time, a set of those entered, the end of a block and a sequence number.
// Times come from the instances' clocks, as with the database; Redis
// expiry only clears state that is no longer needed.
type Redis struct {
	client *redis.Client
	prefix string
	rule   Rule
	now    func() time.Time
}

// NewRedis returns a Redis store that keeps its keys under prefix and reads
// the time from now (time.Now when nil).
func NewRedis(client *redis.Client, prefix string, rule Rule, now func() time.Time) *Redis {
	if now == nil {
		now = time.Now
	}
	return &Redis{client: client, prefix: prefix, rule: rule.withDefaults(), now: now}
}

func (r *Redis) keys(scope string) []string {
	base := r.prefix + "conv:{" + scope + "}:"
	return []string{base + "sent", base + "entered", base + "blocked", base + "seq"}
}

// judgeScript: KEYS sent, entered, blocked; ARGV now ms, settle ms, sample,
// min entered, block ms. Returns {blocked ms, tripped 0|1}.
var judgeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local untilMs = tonumber(redis.call('GET', KEYS[3]) or '0')
if untilMs > now then return {untilMs - now, 0} end
local sample = tonumber(ARGV[3])
local settled = redis.call('ZREVRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '-inf', 'LIMIT', 0, sample)
if #settled < sample then return {0, 0} end
local entered = 0
for _, m in ipairs(settled) do
	entered = entered + redis.call('SISMEMBER', KEYS[2], m)
end
if entered >= tonumber(ARGV[4]) then return {0, 0} end
local block = tonumber(ARGV[5])
redis.call('SET', KEYS[3], now + block, 'PX', block)
redis.call('DEL', KEYS[1], KEYS[2])
return {block, 1}
`)

// sentScript: KEYS sent, entered, seq; ARGV now ms, phone, settle ms,
// sample, forget ms. Members are "SEQUENCE PHONE": codes sent in the same
// millisecond then keep their order (a sorted set orders equal scores by
// member). Keeps every unsettled code and the last sample settled ones.
var sentScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], now, string.format('%016d', seq) .. ' ' .. ARGV[2])
local keep = tonumber(ARGV[4]) + redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[3])), '+inf')
local n = redis.call('ZCARD', KEYS[1])
if n > keep then
	local old = redis.call('ZRANGE', KEYS[1], 0, n - keep - 1)
	redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1)
	for _, m in ipairs(old) do redis.call('SREM', KEYS[2], m) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 0
`)

// enteredScript: KEYS sent, entered; ARGV now ms, settle ms, phone, forget
// ms.
var enteredScript = redis.NewScript(`
local recent = redis.call('ZRANGEBYSCORE', KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]), '+inf')
local p = ' ' .. ARGV[3]
for _, m in ipairs(recent) do
	if string.sub(m, -#p) == p then redis.call('SADD', KEYS[2], m) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 0
`)

// Judge implements Conversions.
func (r *Redis) Judge(ctx context.Context, scope string) (time.Duration, bool, error) {
	res, err := judgeScript.Run(ctx, r.client, r.keys(scope), r.now().UnixMilli(), r.rule.Settle.Milliseconds(),
		r.rule.Sample, strconv.FormatFloat(r.rule.MinRate*float64(r.rule.Sample), 'f', -1, 64), r.rule.Block.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("redis judge: %w", err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("redis judge: unexpected reply %v", res)
	}
	return time.Duration(res[0]) * time.Millisecond, res[1] == 1, nil
}

// Sent implements Conversions.
func (r *Redis) Sent(ctx context.Context, scope, phone string) error {
	k := r.keys(scope)
	err := sentScript.Run(ctx, r.client, []string{k[0], k[1], k[3]}, r.now().UnixMilli(), phone, r.rule.Settle.Milliseconds(),
		r.rule.Sample, r.rule.Forget.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis sent: %w", err)
	}
	return nil
}

// Entered implements Conversions.
func (r *Redis) Entered(ctx context.Context, scope, phone string) error {
	k := r.keys(scope)
	err := enteredScript.Run(ctx, r.client, k[:2], r.now().UnixMilli(), r.rule.Settle.Milliseconds(),
		phone, r.rule.Forget.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis entered: %w", err)
	}
	return nil
}
