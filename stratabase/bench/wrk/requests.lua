-- The load of `stratabase bench api`: wrk sends requests drawn at random from a file.
--
--   wrk -t2 -c32 -d10s -s requests.lua http://127.0.0.1:PORT -- /path/to/requests.tsv
--
-- Each line of the file is one request, six tab-separated fields:
--   group  weight  method  path  token  body
-- A group is chosen with probability weight / (sum of the groups' weights), then one of its
-- lines uniformly; token (a bearer token) and body (JSON, one line) may be empty. Requests
-- are formatted once, in init(), so the script costs wrk almost nothing per request.
--
-- done() prints one line, "WRK_JSON {...}": requests, duration, socket errors, answers that
-- were not 2xx (and the last such status), latency percentiles in microseconds.

local threads = {}
local started = 0

function setup(thread)
  started = started + 1
  thread:set("thread_number", started)
  table.insert(threads, thread)
end

local groups = {}
local total_weight = 0
non2xx = 0
last_bad_status = 0

local function fields(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    table.insert(out, field)
  end
  return out
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  local by_name = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      local f = fields(line)
      local name, weight, method, path, token, body = f[1], tonumber(f[2]), f[3], f[4], f[5], f[6]
      local headers = {}
      if token ~= nil and token ~= "" then
        headers["Authorization"] = "Bearer " .. token
      end
      if body == nil or body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      local group = by_name[name]
      if group == nil then
        group = { weight = weight, requests = {} }
        by_name[name] = group
        table.insert(groups, group)
        total_weight = total_weight + weight
      end
      table.insert(group.requests, wrk.format(method, path, headers, body))
    end
  end
end

function request()
  local pick = math.random() * total_weight
  local group = groups[#groups]
  for _, candidate in ipairs(groups) do
    pick = pick - candidate.weight
    if pick <= 0 then
      group = candidate
      break
    end
  end
  return group.requests[math.random(#group.requests)]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    last_bad_status = status
  end
end

function done(summary, latency, requests)
  local bad, last = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
    local status = thread:get("last_bad_status") or 0
    if status ~= 0 then
      last = status
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"non2xx":%d,"last_bad_status":%d,'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    bad, last,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
end
