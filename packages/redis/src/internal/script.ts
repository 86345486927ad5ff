/**
 * The server-side script that applies one operation to one circuit. It is the breaker's state machine
 * (`circuit-breaker/src/internal/machine.ts` and `window.ts`) written again in Lua, rule for rule, plus the trial lease.
 * Redis runs a script without interleaving any other command, so one call of this script is one atomic step, whichever
 * process sends it. The differential test requires identical states and transitions from the two versions.
 *
 * KEYS[1] is the circuit's hash. ARGV:
 *
 * 1. the operation: A (admit), R (record), C (cooldown elapsed), O (observe), K (command), L (renew the trial lease),
 *    G (read without any change);
 * 2. now, epoch milliseconds from the caller's `Clock`;
 * 3. the generation (R, C, L) or the command letter I, R or D (K);
 * 4. to 6. for R: the outcome letter S, F or I, the duration and the shortest cooldown the upstream asked for;
 * 7. the trial lease in milliseconds ("inf" for none); 8. the idle time to live of the key in milliseconds;
 * 9. onwards, the policy: the initial state's tag, the success threshold, the cooldown cap, the count of cooldowns
 *    and the cooldowns, the count of trips, and seven fields per trip (kind, threshold, minimum calls, slow-call
 *    milliseconds, window kind, window size or duration, buckets).
 *
 * The reply is a flat array of strings, never numbers, because Redis truncates a Lua number to an integer reply: see
 * `reply` in codec.ts for the order.
 *
 * @internal
 */
export const source = `
local key = KEYS[1]

local function num(text)
  if text == "inf" then return math.huge end
  if text == "-inf" then return -math.huge end
  return tonumber(text)
end

-- The shortest text that reads back as the same number, as JavaScript prints it for integers.
local function str(x)
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x == math.floor(x) and x > -9007199254740992 and x < 9007199254740992 then
    return string.format("%d", x)
  end
  for digits = 15, 17 do
    local text = string.format("%." .. digits .. "g", x)
    if tonumber(text) == x then return text end
  end
  return string.format("%.17g", x)
end

local op = ARGV[1]
local now = num(ARGV[2])
local leaseMillis = num(ARGV[7])
local idleMillis = num(ARGV[8])

-- The policy.
local initialTag = ARGV[9]
local successThreshold = num(ARGV[10])
local maxCooldown = num(ARGV[11])
local cooldowns = {}
local at = 12
local cooldownCount = num(ARGV[at])
for i = 1, cooldownCount do cooldowns[i] = num(ARGV[at + i]) end
at = at + cooldownCount + 1
local tripCount = num(ARGV[at])
local trips = {}
for i = 1, tripCount do
  local base = at + (i - 1) * 7
  local trip = {
    kind = ARGV[base + 1],
    threshold = num(ARGV[base + 2]),
    minimumCalls = num(ARGV[base + 3]),
    slowMillis = num(ARGV[base + 4])
  }
  if trip.kind ~= "C" then
    trip.window = { kind = ARGV[base + 5], size = num(ARGV[base + 6]), buckets = num(ARGV[base + 7]) }
  end
  trips[i] = trip
end

-- Windows: a count window keeps a ring of one digit per call (4 for a recorded call, plus 1 when it failed and 2
-- when it was slow); a time window keeps calls, failures and slow calls per bucket.

local function emptyWindow(spec)
  if spec.kind == "N" then
    return { kind = "N", ring = string.rep("0", spec.size), next = 0, calls = 0, failures = 0, slow = 0 }
  end
  local counts = {}
  for i = 1, spec.buckets * 3 do counts[i] = 0 end
  return { kind = "T", counts = counts, newest = 0, calls = 0, failures = 0, slow = 0 }
end

local function decodeWindow(text, spec)
  if text ~= nil and spec.kind == "N" then
    local size, nextSlot, calls, failures, slow, ring = string.match(text, "^N|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$")
    if size ~= nil and num(size) == spec.size and #ring == spec.size then
      return { kind = "N", ring = ring, next = num(nextSlot), calls = num(calls), failures = num(failures), slow = num(slow) }
    end
  elseif text ~= nil then
    local duration, buckets, newest, calls, failures, slow, rest =
      string.match(text, "^T|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$")
    if duration ~= nil and num(duration) == spec.size and num(buckets) == spec.buckets then
      local counts = {}
      for count in string.gmatch(rest, "[^,]+") do counts[#counts + 1] = num(count) end
      if #counts == spec.buckets * 3 then
        return { kind = "T", counts = counts, newest = num(newest), calls = num(calls), failures = num(failures), slow = num(slow) }
      end
    end
  end
  -- A window written under another policy (another size or duration) starts empty.
  return emptyWindow(spec)
end

local function encodeWindow(w, spec)
  if w.kind == "N" then
    return "N|" .. str(spec.size) .. "|" .. str(w.next) .. "|" .. str(w.calls) .. "|" .. str(w.failures) .. "|" ..
      str(w.slow) .. "|" .. w.ring
  end
  local parts = {}
  for i = 1, #w.counts do parts[i] = str(w.counts[i]) end
  return "T|" .. str(spec.size) .. "|" .. str(spec.buckets) .. "|" .. str(w.newest) .. "|" .. str(w.calls) .. "|" ..
    str(w.failures) .. "|" .. str(w.slow) .. "|" .. table.concat(parts, ",")
end

local function rotate(w, spec)
  local current = math.floor(now / (spec.size / spec.buckets))
  local shift = current - w.newest
  if shift <= 0 then return w end
  if shift >= spec.buckets then
    local fresh = emptyWindow(spec)
    fresh.newest = current
    return fresh
  end
  local calls, failures, slow = w.calls, w.failures, w.slow
  for i = 1, shift * 3, 3 do
    calls = calls - w.counts[i]
    failures = failures - w.counts[i + 1]
    slow = slow - w.counts[i + 2]
  end
  local counts = {}
  for i = shift * 3 + 1, #w.counts do counts[#counts + 1] = w.counts[i] end
  for i = 1, shift * 3 do counts[#counts + 1] = 0 end
  return { kind = "T", counts = counts, newest = current, calls = calls, failures = failures, slow = slow }
end

local function addCall(w, spec, failed, slow)
  local f = failed and 1 or 0
  local s = slow and 1 or 0
  if w.kind == "N" then
    local slot = w.next + 1
    local evicted = string.byte(w.ring, slot) - 48
    local ring = string.sub(w.ring, 1, slot - 1) .. string.char(48 + 4 + f + 2 * s) .. string.sub(w.ring, slot + 1)
    return {
      kind = "N",
      ring = ring,
      next = (w.next + 1) % spec.size,
      calls = w.calls + ((evicted >= 4) and 0 or 1),
      failures = w.failures + f - (evicted % 2),
      slow = w.slow + s - (math.floor(evicted / 2) % 2)
    }
  end
  local rotated = rotate(w, spec)
  local counts = {}
  for i = 1, #rotated.counts do counts[i] = rotated.counts[i] end
  local last = #counts - 2
  counts[last] = counts[last] + 1
  counts[last + 1] = counts[last + 1] + f
  counts[last + 2] = counts[last + 2] + s
  return {
    kind = "T",
    counts = counts,
    newest = rotated.newest,
    calls = rotated.calls + 1,
    failures = rotated.failures + f,
    slow = rotated.slow + s
  }
end

-- The state. A missing key is the policy's initial state; "pristine" marks the Closed state that the machine
-- represents by the policy's own object, and "touched" a Closed state whose windows have recorded a call since it
-- was made.

local function closedState(generation)
  local windows = {}
  for i = 1, tripCount do
    if trips[i].window ~= nil then windows[i] = emptyWindow(trips[i].window) end
  end
  return {
    tag = "Closed", generation = generation, cf = 0, windows = windows,
    openings = 0, openSince = 0, lastOpen = 0, closedAt = -math.huge
  }
end

local function initialState()
  if initialTag == "Closed" then
    local state = closedState(0)
    state.pristine = true
    return state
  end
  return { tag = "Disabled", generation = 0, since = 0 }
end

local function load()
  local flat = redis.call("HGETALL", key)
  if #flat == 0 then
    local state = initialState()
    state.absent = true
    return state
  end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  local state = { tag = h.t, generation = num(h.g), pristine = h.p == "1" }
  if state.tag == "Isolated" or state.tag == "Disabled" then
    state.since = num(h.s)
    return state
  end
  state.openings = num(h.o)
  state.openSince = num(h.os)
  state.lastOpen = num(h.lo)
  state.closedAt = h.ca == nil and -math.huge or num(h.ca)
  if state.tag == "Closed" then
    state.cf = num(h.cf)
    state.touched = h.wt == "1"
    state.windows = {}
    for i = 1, tripCount do
      if trips[i].window ~= nil then state.windows[i] = decodeWindow(h["w" .. i], trips[i].window) end
    end
  elseif state.tag == "Open" then
    state.openedAt = num(h.oa)
    state.openUntil = num(h.ou)
  else
    state.trialRunning = h.tr == "1"
    state.trialSuccesses = num(h.ts)
    state.leaseUntil = h.l == nil and math.huge or num(h.l)
  end
  return state
end

local function withBackoff(target, from)
  target.openings = from.openings
  target.openSince = from.openSince
  target.lastOpen = from.lastOpen
  target.closedAt = from.closedAt
  return target
end

-- Opens the circuit: the cooldown for this count of openings, at least what the upstream asked for, at most the cap.
-- A run of openings starts over once the circuit has stayed closed for as long as it was last open.
local function open(from, minCooldown)
  local startsOver = from.tag == "Closed" and now - from.closedAt >= from.lastOpen
  local openings = startsOver and 0 or from.openings
  local scheduled = cooldowns[math.min(openings, #cooldowns - 1) + 1]
  local cooldown = math.min(maxCooldown, math.max(scheduled, minCooldown))
  return {
    tag = "Open",
    generation = from.generation + 1,
    openedAt = now,
    openUntil = now + cooldown,
    openings = openings + 1,
    openSince = from.tag == "Closed" and now or from.openSince,
    lastOpen = from.lastOpen,
    closedAt = from.closedAt
  }
end

local function percent(ratio)
  return str(math.floor(ratio * 100 + 0.5)) .. "%"
end

local function describeWindow(spec)
  if spec.kind == "N" then return "the last " .. str(spec.size) .. " calls" end
  return "the last " .. str(spec.size) .. " ms"
end

local function tripReason(trip, cf, w)
  if trip.kind == "C" then
    if cf >= trip.threshold then return cf == 1 and "1 consecutive failure" or str(cf) .. " consecutive failures" end
    return nil
  end
  if w == nil or w.calls < trip.minimumCalls then return nil end
  if trip.kind == "F" then
    local rate = w.failures / w.calls
    if rate >= trip.threshold then
      return "a failure rate of " .. percent(rate) .. " over " .. describeWindow(trip.window) .. " (" ..
        str(w.failures) .. " of " .. str(w.calls) .. ")"
    end
    return nil
  end
  local rate = w.slow / w.calls
  if rate >= trip.threshold then
    return "a slow-call rate of " .. percent(rate) .. " over " .. describeWindow(trip.window) .. " (" .. str(w.slow) ..
      " of " .. str(w.calls) .. " took at least " .. str(trip.slowMillis) .. " ms)"
  end
  return nil
end

local function isSlowFor(trip, duration)
  return trip.kind == "S" and duration >= trip.slowMillis
end

local state = load()
local nextState = state
local changed = false
local admission = nil
local transition = nil
local note = ""

local function moveTo(target, to, reason)
  nextState = target
  changed = true
  if to ~= nil then transition = { from = state.tag, to = to, reason = reason } end
end

local function hasWindows(s)
  for i = 1, tripCount do
    if s.windows[i] ~= nil then return true end
  end
  return false
end

local function recordClosed(outcome, duration, minCooldown)
  local failed = outcome == "F"
  local windowed = hasWindows(state)
  if not failed and not windowed and state.cf == 0 then return end

  local cf = failed and state.cf + 1 or 0
  if not windowed and cf == 0 and state.generation == 0 then
    moveTo(closedState(0))
    nextState.pristine = true
    return
  end

  local windows = {}
  for i = 1, tripCount do
    local w = state.windows[i]
    if w ~= nil then windows[i] = addCall(w, trips[i].window, failed, isSlowFor(trips[i], duration)) end
  end
  for i = 1, tripCount do
    local reason = tripReason(trips[i], cf, windows[i])
    if reason ~= nil then
      moveTo(open(state, minCooldown), "Open", reason)
      return
    end
  end
  local updated = withBackoff({
    tag = "Closed", generation = state.generation, cf = cf, windows = windows, touched = state.touched or windowed
  }, state)
  moveTo(updated)
end

local function halfOpen(generation, running, successes, leaseUntil)
  return withBackoff({
    tag = "HalfOpen", generation = generation, trialRunning = running, trialSuccesses = successes,
    leaseUntil = leaseUntil
  }, state)
end

local function recordTrial(outcome, duration, minCooldown)
  if outcome == "I" then
    moveTo(halfOpen(state.generation, false, state.trialSuccesses, math.huge))
    return
  end
  if outcome == "F" then
    moveTo(open(state, minCooldown), "Open", "a trial call failed")
    return
  end
  -- A trial that succeeds slowly proves the upstream is still too slow for a slow-call policy.
  for i = 1, tripCount do
    if isSlowFor(trips[i], duration) then
      moveTo(open(state, 0), "Open", "a trial call took " .. str(duration) .. " ms, at least " .. str(trips[i].slowMillis) .. " ms")
      return
    end
  end
  local successes = state.trialSuccesses + 1
  if successes < successThreshold then
    moveTo(halfOpen(state.generation, false, successes, math.huge))
    return
  end
  local reason = successes == 1 and "a trial call succeeded" or (str(successes) .. " trial calls succeeded in a row")
  local closed = closedState(state.generation + 1)
  closed.openings = state.openings
  closed.openSince = state.openSince
  closed.lastOpen = now - state.openSince
  closed.closedAt = now
  moveTo(closed, "Closed", reason)
end

local function cooldownElapsed(generation)
  if state.tag ~= "Open" or state.generation ~= generation or now < state.openUntil then return end
  moveTo(halfOpen(state.generation + 1, false, 0, math.huge), "HalfOpen", "the cooldown ended")
end

if op == "A" then
  local tag = state.tag
  if tag == "Closed" or tag == "Disabled" then
    admission = { "1", str(state.generation), "0" }
  elseif tag == "Isolated" then
    admission = { "0", "Isolated", "inf" }
  elseif tag == "Open" then
    if now < state.openUntil then
      admission = { "0", "Open", str(state.openUntil - now) }
    else
      local generation = state.generation + 2
      moveTo(halfOpen(generation, true, 0, now + leaseMillis), "HalfOpen", "the cooldown ended")
      admission = { "1", str(generation), "1" }
    end
  else
    -- A trial whose lease lapsed is treated as an ignored one: the slot is free again, and the generation this
    -- admission takes fences off the lapsed trial's outcome.
    local running = state.trialRunning
    if running and now >= state.leaseUntil then
      running = false
      note = "lapsed"
    end
    if running then
      admission = { "0", "HalfOpen", "0" }
    else
      local generation = state.generation + 1
      moveTo(halfOpen(generation, true, state.trialSuccesses, now + leaseMillis))
      admission = { "1", str(generation), "1" }
    end
  end
elseif op == "R" then
  local generation = num(ARGV[3])
  local outcome = ARGV[4]
  if generation == state.generation and not (outcome == "I" and state.tag ~= "HalfOpen") then
    if state.tag == "Closed" then
      recordClosed(outcome, num(ARGV[5]), num(ARGV[6]))
    elseif state.tag == "HalfOpen" and state.trialRunning then
      recordTrial(outcome, num(ARGV[5]), num(ARGV[6]))
    end
  end
elseif op == "C" then
  cooldownElapsed(num(ARGV[3]))
elseif op == "O" then
  if state.tag == "Open" then cooldownElapsed(state.generation) end
elseif op == "K" then
  local command = ARGV[3]
  local generation = state.generation + 1
  if command == "I" then
    if state.tag ~= "Isolated" then
      moveTo({ tag = "Isolated", generation = generation, since = now }, "Isolated", "isolated by an operator")
    end
  elseif command == "D" then
    if state.tag ~= "Disabled" then
      moveTo({ tag = "Disabled", generation = generation, since = now }, "Disabled", "disabled by an operator")
    end
  else
    -- A reset always starts a new generation; it reports a transition only when there was something to reset: a
    -- Closed state with no failures, no openings and no call in its windows since it was made has nothing.
    local untouched = state.tag == "Closed" and state.cf == 0 and state.openings == 0 and not state.touched
    if untouched then
      moveTo(closedState(generation))
    else
      moveTo(closedState(generation), "Closed", "reset by an operator")
    end
  end
elseif op == "L" then
  if state.tag == "HalfOpen" and state.trialRunning and state.generation == num(ARGV[3]) then
    moveTo(halfOpen(state.generation, true, state.trialSuccesses, now + leaseMillis))
    note = "renewed"
  else
    note = "stale"
  end
end

local s = nextState

-- The write: the whole hash at once, with an expiry that outlasts the idle time to live, the rest of an Open
-- cooldown and the rest of a running trial's lease. An operator's isolate or disable holds until a reset.
if changed then
  redis.call("DEL", key)
  if not (s.pristine and initialTag == "Closed") then
    local fields = { "t", s.tag, "g", str(s.generation) }
    if s.pristine then
      fields[#fields + 1] = "p"
      fields[#fields + 1] = "1"
    end
    local function put(field, value)
      fields[#fields + 1] = field
      fields[#fields + 1] = value
    end
    local extra = 0
    if s.tag == "Isolated" or s.tag == "Disabled" then
      put("s", str(s.since))
    else
      put("o", str(s.openings))
      put("os", str(s.openSince))
      put("lo", str(s.lastOpen))
      if s.closedAt ~= -math.huge then put("ca", str(s.closedAt)) end
      if s.tag == "Closed" then
        put("cf", str(s.cf))
        if s.touched then put("wt", "1") end
        for i = 1, tripCount do
          if s.windows[i] ~= nil then put("w" .. i, encodeWindow(s.windows[i], trips[i].window)) end
        end
      elseif s.tag == "Open" then
        put("oa", str(s.openedAt))
        put("ou", str(s.openUntil))
        extra = s.openUntil - now
      else
        put("tr", s.trialRunning and "1" or "0")
        put("ts", str(s.trialSuccesses))
        if s.trialRunning then
          put("l", str(s.leaseUntil))
          extra = s.leaseUntil - now
        end
      end
    end
    redis.call("HSET", key, unpack(fields))
    local ttl = idleMillis + math.max(0, extra)
    if s.tag ~= "Isolated" and s.tag ~= "Disabled" and ttl < math.huge then
      redis.call("PEXPIRE", key, string.format("%d", math.ceil(ttl)))
    end
  end
end

local reply = {
  s.tag,
  str(s.generation),
  (s.absent and "2") or (s.pristine and "1") or "0",
  str(s.openings or 0),
  str(s.openSince or 0),
  str(s.lastOpen or 0),
  str(s.closedAt or 0),
  str(s.cf or 0),
  str(s.openedAt or 0),
  str(s.openUntil or 0),
  (s.trialRunning and "1") or "0",
  str(s.trialSuccesses or 0),
  str(s.since or 0),
  str(s.leaseUntil or math.huge),
  admission and admission[1] or "",
  admission and admission[2] or "",
  admission and admission[3] or "",
  transition and transition.from or "",
  transition and transition.to or "",
  transition and transition.reason or "",
  note,
  (s.touched and "1") or "0"
}
for i = 1, tripCount do
  local w = s.tag == "Closed" and s.windows[i] or nil
  reply[#reply + 1] = w and encodeWindow(w, trips[i].window) or ""
end
return reply
`
