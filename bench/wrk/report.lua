-- Prints the run's figures as one JSON line, for bench/run.py. wrk sends no cookies, so every
-- request is a first-time visitor's.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format(
    'JSON {"requests": %d, "seconds": %.3f, "errors": %d, "non_2xx": %d, '
    .. '"p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
