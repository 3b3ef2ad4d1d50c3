//! The Redis side: one Lua script runs a whole decision atomically (all counters of the bucket
//! checked, then all charged or none), on Redis's own clock (`TIME`) so every gateway agrees.
//! Counters are hashes of slot → count that expire by themselves (`PEXPIRE` one window plus two
//! slots after the last write).

use higress_sdk::RespValue;

use crate::plan::{Plan, Verdict};
use crate::window::Check;

/// `ARGV[1]` is `reserve` or `settle`.
/// * reserve: then per counter `limit, slot_ms, slots, cost`; returns
///   `{admitted, now_ms, used₁, retry_after₁, reset₁, ...}`.
/// * settle: `ARGV[2]` = the reservation's `now_ms`, then per counter `slot_ms, slots, delta`;
///   returns 1.
pub const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live(key, cur, slots)
  local h = redis.call('HGETALL', key)
  local out, stale = {}, {}
  for i = 1, #h, 2 do
    local idx, n = tonumber(h[i]), tonumber(h[i + 1])
    if idx < cur - slots or n <= 0 then stale[#stale + 1] = h[i] else out[#out + 1] = {idx, n} end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end
if ARGV[1] == 'reserve' then
  local fits, res = 1, {}
  for i = 1, #KEYS do
    local b = 2 + (i - 1) * 4
    local limit, slot_ms, slots, cost = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local cur = math.floor(now / slot_ms)
    local l = live(KEYS[i], cur, slots)
    local used, reset, retry = 0, 0, 0
    for _, s in ipairs(l) do
      used = used + s[2]
      reset = math.max(reset, (s[1] + slots + 1) * slot_ms - now)
    end
    if used + cost > limit then
      fits = 0
      if cost > limit then
        retry = slots * slot_ms
      else
        local excess = used + cost - limit
        for _, s in ipairs(l) do
          retry = (s[1] + slots + 1) * slot_ms - now
          excess = excess - s[2]
          if excess <= 0 then break end
        end
      end
    end
    res[#res + 1] = used
    res[#res + 1] = retry
    res[#res + 1] = reset
  end
  if fits == 1 then
    for i = 1, #KEYS do
      local b = 2 + (i - 1) * 4
      local slot_ms, slots, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
      if cost > 0 then
        redis.call('HINCRBY', KEYS[i], math.floor(now / slot_ms), cost)
        redis.call('PEXPIRE', KEYS[i], (slots + 2) * slot_ms)
      end
    end
  end
  local out = {fits, now}
  for _, v in ipairs(res) do out[#out + 1] = v end
  return out
elseif ARGV[1] == 'settle' then
  local at = tonumber(ARGV[2])
  for i = 1, #KEYS do
    local b = 3 + (i - 1) * 3
    local slot_ms, slots, delta = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local slot = math.floor(at / slot_ms)
    if delta ~= 0 and slot >= math.floor(now / slot_ms) - slots then
      local v = redis.call('HINCRBY', KEYS[i], slot, delta)
      if v <= 0 then redis.call('HDEL', KEYS[i], slot) end
      if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], (slots + 2) * slot_ms) end
    end
  end
  return 1
end
return redis.error_reply('token-rate-limit: unknown operation')
"#;

pub fn keys(plan: &Plan) -> Vec<&str> {
    plan.counters.iter().map(|c| c.key.as_str()).collect()
}

pub fn reserve_args(plan: &Plan, costs: &[u64]) -> Vec<String> {
    let mut args = vec!["reserve".to_string()];
    for (c, cost) in plan.counters.iter().zip(costs) {
        args.extend([
            c.limit.max.to_string(),
            c.geometry.slot_ms.to_string(),
            c.geometry.slots.to_string(),
            cost.to_string(),
        ]);
    }
    args
}

pub fn settle_args(plan: &Plan, at_ms: u64, deltas: &[i64]) -> Vec<String> {
    let mut args = vec!["settle".to_string(), at_ms.to_string()];
    for (c, delta) in plan.counters.iter().zip(deltas) {
        args.extend([
            c.geometry.slot_ms.to_string(),
            c.geometry.slots.to_string(),
            delta.to_string(),
        ]);
    }
    args
}

/// Reads the reserve reply.
pub fn parse_reserve(reply: &RespValue, plan: &Plan, costs: &[u64]) -> Result<Verdict, String> {
    let RespValue::Array(items) = reply else {
        return Err(format!("unexpected reply {reply:?}"));
    };
    let ints: Vec<i64> = items
        .iter()
        .map(|v| {
            v.as_integer()
                .ok_or_else(|| format!("non-integer in reply {v:?}"))
        })
        .collect::<Result<_, _>>()?;
    let n = plan.counters.len();
    if ints.len() != 2 + 3 * n {
        return Err(format!(
            "reply has {} values, expected {}",
            ints.len(),
            2 + 3 * n
        ));
    }
    let admitted = ints[0] == 1;
    let checks: Vec<Check> = plan
        .counters
        .iter()
        .zip(costs)
        .enumerate()
        .map(|(i, (c, cost))| {
            let used = ints[2 + 3 * i].max(0) as u64;
            Check {
                fits: used.saturating_add(*cost) <= c.limit.max,
                used,
                limit: c.limit.max,
                retry_after_ms: ints[3 + 3 * i].max(0) as u64,
                reset_ms: ints[4 + 3 * i].max(0) as u64,
            }
        })
        .collect();
    Ok(Verdict {
        admitted,
        at_ms: ints[1].max(0) as u64,
        charged: if admitted { costs.to_vec() } else { vec![0; n] },
        checks,
    })
}
