// The checks of the original's API contract suite (tests/contract-tests.js at commit
// 463780925af6914c14766f98f05005943834df4b of easyshot/aws-opportunity-analysis), one function per check under
// its name there, with the same requests and the same assertions. Usage: TARGET_URL=http://host:port node contract.js
'use strict';

const { send, run } = require('./harness');

const VALID = {
  customerName: 'Contract Test Customer',
  region: 'us-east-1',
  closeDate: '2024-12-31',
  opportunityName: 'Contract Test Opportunity',
  description: 'This is a contract test opportunity for API validation',
};
const INVALID = { customerName: '', region: 'invalid-region', closeDate: 'invalid-date', opportunityName: '', description: '' };

// The answer the suite expects, as type names ('array' for an array, a nested object for an object).
const ANALYSIS_SHAPE = {
  success: 'boolean',
  data: {
    predictedArr: 'string',
    predictedMrr: 'string',
    launchDate: 'string',
    timeToLaunch: 'number',
    confidence: 'string',
    topServices: 'string',
    analysisMethodology: 'string',
    similarProjects: 'array',
    detailedFindings: 'string',
    predictionRationale: 'string',
    riskFactors: 'string',
    generatedSql: 'string',
    queryResults: 'string',
  },
};
const ERROR_SHAPE = { success: 'boolean', error: { code: 'string', message: 'string', timestamp: 'string' } };

// The suite's rule: every key present; a type name is checked with typeof (or Array.isArray); a nested shape
// is checked inside the value unless that value is null.
function shapeErrors(value, shape, path = '') {
  const errors = [];
  for (const [key, expected] of Object.entries(shape)) {
    const where = path ? `${path}.${key}` : key;
    if (!(key in value)) {
      errors.push(`Missing required field: ${where}`);
    } else if (typeof expected === 'object') {
      if (value[key] !== null) errors.push(...shapeErrors(value[key], expected, where));
    } else if (expected === 'array' ? !Array.isArray(value[key]) : typeof value[key] !== expected) {
      errors.push(`Field ${where} should be ${expected}, got ${typeof value[key]}`);
    }
  }
  return errors;
}

async function testHealthEndpoint() {
  const response = await send('GET', '/api/health');
  if (response.status !== 200) throw new Error(`Health check failed with status ${response.status}`);
  if (!response.data || typeof response.data.status !== 'string') throw new Error('Health check response missing status field');
}

async function testAnalyzeEndpointValid(warn) {
  const response = await send('POST', '/api/analyze', VALID);
  if (response.status !== 200) throw new Error(`Analyze endpoint failed with status ${response.status}: ${JSON.stringify(response.data)}`);
  const errors = shapeErrors(response.data, ANALYSIS_SHAPE);
  if (errors.length) throw new Error(`Schema validation failed: ${errors.join(', ')}`);
  const { data } = response.data;
  if (!data.predictedArr || data.predictedArr === 'N/A') warn('No predicted ARR returned');
  if (!data.topServices || data.topServices.trim() === '') warn('No top services returned');
  if (!['HIGH', 'MEDIUM', 'LOW'].includes(data.confidence)) throw new Error(`Invalid confidence level: ${data.confidence}`);
}

// Shared by the two refusal checks: a 200 is only a warning there; anything else must be a 400 or a 422.
async function expectRefusal(body, what, warn) {
  const response = await send('POST', '/api/analyze', body);
  if (response.status === 200) {
    warn(`Analyze endpoint accepted ${what} data`);
    return;
  }
  if (response.status !== 400 && response.status !== 422) {
    throw new Error(`Expected 400 or 422 status for ${what} data, got ${response.status}`);
  }
  if (response.data && response.data.success === false) {
    const errors = shapeErrors(response.data, ERROR_SHAPE);
    if (errors.length) warn(`Error response schema validation failed: ${errors.join(', ')}`);
  }
}

async function testAnalyzeEndpointInvalid(warn) {
  await expectRefusal(INVALID, 'invalid', warn);
}

async function testAnalyzeEndpointMissingFields(warn) {
  await expectRefusal({ customerName: 'Test Customer' }, 'incomplete', warn);
}

async function expectSuccess(path, body, failure, warn) {
  const response = await send('POST', path, body);
  if (response.status !== 200) {
    warn(`${path} returned status ${response.status}, may not be implemented yet`);
    return;
  }
  if (!response.data || !response.data.success) throw new Error(failure);
}

async function testFundingEndpoint(warn) {
  const body = { ...VALID, projectedArr: '$500,000', topServices: 'EC2, S3, RDS' };
  await expectSuccess('/api/analyze/funding', body, 'Funding analysis failed', warn);
}

async function testNextOpportunityEndpoint(warn) {
  await expectSuccess('/api/analyze/next-opportunity', VALID, 'Next opportunity analysis failed', warn);
}

async function testCorsHeaders(warn) {
  const response = await send('OPTIONS', '/api/analyze');
  for (const header of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers']) {
    if (!response.headers[header]) warn(`Missing CORS header: ${header}`);
  }
}

async function testRateLimiting(warn) {
  try {
    const responses = await Promise.all(Array.from({ length: 20 }, () => send('POST', '/api/analyze', VALID)));
    if (!responses.some((r) => r.status === 429)) warn('No rate limiting detected');
  } catch (error) {
    warn(`Rate limiting test failed: ${error.message}`);
  }
}

async function testResponseTime(warn) {
  const started = Date.now();
  const response = await send('POST', '/api/analyze', VALID);
  const elapsed = Date.now() - started;
  if (response.status !== 200) throw new Error(`Performance test failed with status ${response.status}`);
  console.log(`  response time: ${elapsed} ms`);
  if (elapsed > 30000) warn('Response time exceeds 30 seconds');
}

run('contract', [
  ['testHealthEndpoint', testHealthEndpoint],
  ['testAnalyzeEndpointValid', testAnalyzeEndpointValid],
  ['testAnalyzeEndpointInvalid', testAnalyzeEndpointInvalid],
  ['testAnalyzeEndpointMissingFields', testAnalyzeEndpointMissingFields],
  ['testFundingEndpoint', testFundingEndpoint],
  ['testNextOpportunityEndpoint', testNextOpportunityEndpoint],
  ['testCorsHeaders', testCorsHeaders],
  ['testRateLimiting', testRateLimiting],
  ['testResponseTime', testResponseTime],
]);
