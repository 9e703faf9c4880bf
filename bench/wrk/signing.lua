-- Signing as a first-time visitor's browser does, for bench/run.py (scenario 4): GET the
-- petition page without cookies, keep the CSRF cookie, the form's CSRF token and timestamp,
-- POST the form with a new address, and count a success only for the redirect to "check your
-- inbox". Run with as many threads as connections (-t N -c N): a wrk thread's connection then
-- sends one request at a time, so the thread's variables are that browser's state.
-- Arguments after "--": the petition's slug, a prefix that makes the addresses unique, and
-- the seconds to sign for. At that deadline each thread finishes the signer it is serving and
-- stops (run wrk a little longer), so that no signing is cut off unanswered: the harness then
-- checks that the signatures stored equal the successes counted here.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local function encode(value)
  return (value:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  slug, prefix = args[1], args[2]
  started = now()
  finished = started
  deadline = started + tonumber(args[3])
  form_path = "/petitions/" .. slug .. "/"
  sign_path = form_path .. "sign/"
  ok, failed, n = 0, 0, 0
  cookie, token, rendered = nil, nil, nil
end

function request()
  -- Each signer comes from an address of its own, as the rate limiter sees it behind the proxy.
  local address = string.format("10.%d.%d.%d", 100 + id, math.floor(n / 256) % 256, n % 256)
  if not token then
    return wrk.format("GET", form_path, { ["X-Forwarded-For"] = address })
  end
  local body = table.concat({
    "csrfmiddlewaretoken=" .. token,
    "rendered_at=" .. encode(rendered),
    "first_name=Bench",
    "last_name=Signer+" .. id .. "-" .. n,
    "email=" .. encode(string.format("%s-%d-%d@bench.example", prefix, id, n)),
    "country=" .. ({ "NL", "BE", "DE", "PL", "HU", "TR", "UA", "AZ" })[n % 8 + 1],
    "source=petition",
    "website=",
  }, "&")
  return wrk.format("POST", sign_path, {
    ["X-Forwarded-For"] = address,
    ["Cookie"] = "csrftoken=" .. cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

function response(status, headers, body)
  if not token then
    local set_cookie = headers["Set-Cookie"] or ""
    cookie = set_cookie:match("csrftoken=([^;]+)")
    token = body:match('name="csrfmiddlewaretoken" value="([^"]+)"')
    rendered = body:match('name="rendered_at" value="([^"]+)"')
    if status ~= 200 or not (cookie and token and rendered) then
      failed = failed + 1
      token = nil
    end
    return
  end
  local location = headers["Location"] or ""
  if status == 302 and location:sub(-#"/check-your-inbox/") == "/check-your-inbox/" then
    ok = ok + 1
  else
    failed = failed + 1
  end
  n = n + 1
  token = nil -- the next signer starts afresh, with no cookies
  finished = now()
  if finished >= deadline then
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  local signed, refused, first, last = 0, 0, math.huge, 0
  for _, thread in ipairs(threads) do
    signed = signed + thread:get("ok")
    refused = refused + thread:get("failed")
    first = math.min(first, thread:get("started"))
    last = math.max(last, thread:get("finished"))
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'JSON {"ok": %d, "failed": %d, "requests": %d, "seconds": %.3f, "errors": %d, '
    .. '"p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}\n',
    signed, refused + errors, summary.requests, last - first, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
