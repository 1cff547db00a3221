// What the two suites share: the target, the two ways they send a request, and the runner that reports.
//
// The original suites (easyshot/aws-opportunity-analysis, tests/contract-tests.js and tests/security-tests.js,
// commit 463780925af6914c14766f98f05005943834df4b) are not copied here: contract.js and security.js perform
// the same requests and assert the same things, check by check, under the same names, so a pass here is a
// pass there. Like the originals, a check fails by throwing; what the originals only warn about is a warning.
'use strict';

const axios = require('axios');

const BASE_URL = process.env.TARGET_URL || 'http://localhost:8123';
const TIMEOUT_MS = 30000;

// The contract suite's request: axios' own status handling, so a 4xx/5xx comes back through the error, and a
// request that got no answer at all fails the check.
async function send(method, path, data = null) {
  const config = { method, url: BASE_URL + path, timeout: TIMEOUT_MS, headers: { 'Content-Type': 'application/json' } };
  if (data) config.data = data;
  try {
    const response = await axios(config);
    return { status: response.status, data: response.data, headers: response.headers };
  } catch (error) {
    if (!error.response) throw error;
    const { status, data: body, headers } = error.response;
    return { status, data: body, headers, error: true };
  }
}

// The security suite's request: every status is an answer, and no answer is status 0.
async function probe(method, path, data = null, headers = {}) {
  const config = {
    method,
    url: BASE_URL + path,
    timeout: TIMEOUT_MS,
    headers: { 'Content-Type': 'application/json', ...headers },
    validateStatus: () => true,
  };
  if (data) config.data = data;
  try {
    const response = await axios(config);
    return { status: response.status, data: response.data, headers: response.headers };
  } catch (error) {
    return { status: 0, data: null, headers: {}, error: error.message };
  }
}

// Runs the checks in order; each gets `warn` for what the original only logged. The last line of output is
// the summary as JSON (the pytest side reads it); the exit code is 1 when a check failed.
async function run(suite, checks) {
  console.log(`${suite} checks against ${BASE_URL}`);
  const results = [];
  for (const [name, check] of checks) {
    const warnings = [];
    const warn = (message) => {
      warnings.push(message);
      console.log(`  warning: ${message}`);
    };
    try {
      await check(warn);
      results.push({ name, status: 'passed', warnings });
      console.log(`✓ ${name}`);
    } catch (error) {
      results.push({ name, status: 'failed', message: error.message, warnings });
      console.log(`✗ ${name}: ${error.message}`);
    }
  }
  const failed = results.filter((r) => r.status === 'failed').length;
  console.log(JSON.stringify({ suite, total: results.length, passed: results.length - failed, failed, results }));
  process.exitCode = failed ? 1 : 0;
}

module.exports = { BASE_URL, send, probe, run };
