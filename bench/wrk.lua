-- wrk script for `make bench`: builds each scenario's requests, counts statuses per thread,
-- stops each thread after BENCH_MAX_PER_THREAD requests, and prints one BENCH_JSON line.
-- Environment: BENCH_METHOD, BENCH_PATH, BENCH_KIND (plain | login | register | verify |
-- refresh | mfa),
-- BENCH_TOKEN (sent as a bearer token), BENCH_COOKIE (sent as the Cookie header),
-- BENCH_EMAIL, BENCH_PASSWORD, BENCH_PAIRS (file of "email code" lines; for mfa,
-- "mfa_token recovery_code" lines),
-- BENCH_REFRESH_TOKENS (file of refresh tokens, one session each: thread k takes lines k,
-- k + n ...; a request takes a free token and its answer's new token becomes free again, so
-- no token is presented after it rotated),
-- BENCH_REGISTER_NAME (a "name" field in register bodies, which better-auth's sign-up needs),
-- BENCH_MAX_PER_THREAD, BENCH_THREADS (wrk's -t).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  sent = 0
  method = os.getenv("BENCH_METHOD") or "GET"
  kind = os.getenv("BENCH_KIND") or "plain"
  max = tonumber(os.getenv("BENCH_MAX_PER_THREAD") or "100000")
  threads_count = tonumber(os.getenv("BENCH_THREADS") or "1")
  headers = { ["Content-Type"] = "application/json" }
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local cookie = os.getenv("BENCH_COOKIE")
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  register_name = os.getenv("BENCH_REGISTER_NAME")
  if register_name == "" then register_name = nil end
  pairs_list = {}
  if kind == "verify" or kind == "mfa" then
    -- Thread k takes pairs k, k + n, k + 2n ... (n threads), so no code is used twice.
    for line in io.lines(os.getenv("BENCH_PAIRS")) do
      table.insert(pairs_list, line)
    end
  end
  free_tokens = {}
  if kind == "refresh" then
    local index = 0
    for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
      if index % threads_count == thread_id then table.insert(free_tokens, line) end
      index = index + 1
    end
  end
  math.randomseed(os.time() + thread_id * 7919)
  run = math.random(1, 1000000000)
end

local function json_string(s)
  return '"' .. s .. '"'
end

function request()
  sent = sent + 1
  if sent > max then
    wrk.thread:stop()
  end
  local body = nil
  if kind == "login" then
    body = '{"email":' .. json_string(os.getenv("BENCH_EMAIL")) .. ',"password":' .. json_string(os.getenv("BENCH_PASSWORD")) .. '}'
  elseif kind == "register" then
    body = '{"email":"bench-' .. run .. '-' .. thread_id .. '-' .. sent .. '@example.com","password":"correct horse battery staple"'
    if register_name then body = body .. ',"name":' .. json_string(register_name) end
    body = body .. '}'
  elseif kind == "verify" or kind == "mfa" then
    local index = (sent - 1) * threads_count + thread_id + 1
    local line = pairs_list[index]
    if line == nil then
      wrk.thread:stop()
      line = pairs_list[1]
    end
    local first, second = line:match("(%S+) (%S+)")
    if kind == "mfa" then
      body = '{"mfa_token":' .. json_string(first) .. ',"recovery_code":' .. json_string(second) .. '}'
    else
      body = '{"email":' .. json_string(first) .. ',"code":' .. json_string(second) .. '}'
    end
  elseif kind == "refresh" then
    local token = table.remove(free_tokens)
    if token == nil then
      -- Every session of this thread lost its token (an answer without one): stop.
      wrk.thread:stop()
      token = "none"
    end
    body = '{"refresh_token":' .. json_string(token) .. '}'
  end
  return wrk.format(method, os.getenv("BENCH_PATH"), headers, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if kind == "refresh" then
    local token = body:match('"refresh_token":"([%w_%-]+)"')
    if token then table.insert(free_tokens, token) end
  end
end

function done(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      statuses[status] = (statuses[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"socket_errors":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(parts, ",")))
end
