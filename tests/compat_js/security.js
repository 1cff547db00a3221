// The checks of the original's security suite (tests/security-tests.js at commit
// 463780925af6914c14766f98f05005943834df4b of easyshot/aws-opportunity-analysis), one function per check under
// its name there, with the same requests and the same assertions. Usage: TARGET_URL=http://host:port node security.js
'use strict';

const { probe, run } = require('./harness');

const PAYLOADS = {
  sqlInjection: ["'; DROP TABLE users; --", "1' OR '1'='1", "admin'--", "' UNION SELECT * FROM information_schema.tables --"],
  xss: [
    "<script>alert('XSS')</script>",
    "javascript:alert('XSS')",
    "<img src=x onerror=alert('XSS')>",
    "';alert(String.fromCharCode(88,83,83))//';alert(String.fromCharCode(88,83,83))//",
    "\";alert(String.fromCharCode(88,83,83))//\";alert(String.fromCharCode(88,83,83))//",
  ],
  commandInjection: ['; ls -la', '| cat /etc/passwd', '&& whoami', '`id`', '$(whoami)'],
  pathTraversal: [
    '../../../etc/passwd',
    '..\\..\\..\\windows\\system32\\drivers\\etc\\hosts',
    '....//....//....//etc/passwd',
    '%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  ],
};

// The opportunity each injection check sends: the payload as the customer, the opportunity and its description.
function opportunityOf(text) {
  return { customerName: text, region: 'us-east-1', closeDate: '2024-12-31', opportunityName: text, description: text };
}

// Posts every payload and fails when any answer `leaks` (the check's own reading of an answer).
async function injectionCheck(kind, payloads, leaks) {
  const found = [];
  for (const payload of payloads) {
    const response = await probe('POST', '/api/analyze', opportunityOf(payload));
    if (leaks(response)) found.push(payload);
  }
  if (found.length) throw new Error(`${kind} vulnerabilities found: ${found.length} (${found.join(' | ')})`);
}

const includesAny = (text, words) => words.some((word) => text.includes(word));

async function testSqlInjectionProtection() {
  await injectionCheck('SQL injection', PAYLOADS.sqlInjection, (r) => r.status === 200 && r.data && r.data.success
    && includesAny(JSON.stringify(r.data).toLowerCase(), ['table', 'schema', 'database']));
}

async function testXssProtection() {
  await injectionCheck('XSS', PAYLOADS.xss, (r) => r.status === 200 && r.data
    && includesAny(JSON.stringify(r.data), ['<script>', 'javascript:', 'onerror=']));
}

async function testCommandInjectionProtection() {
  await injectionCheck('Command injection', PAYLOADS.commandInjection, (r) => r.status === 200 && r.data
    && includesAny(JSON.stringify(r.data).toLowerCase(), ['root:', 'uid=', 'gid=']));
}

async function testPathTraversalProtection() {
  const found = [];
  for (const payload of PAYLOADS.pathTraversal) {
    for (const endpoint of ['/api/analyze', '/api/health', `/${payload}`]) {
      const response = await probe('GET', endpoint);
      if (response.status === 200 && response.data
          && includesAny(JSON.stringify(response.data).toLowerCase(), ['root:x:', 'localhost', '127.0.0.1'])) {
        found.push(endpoint);
      }
    }
  }
  if (found.length) throw new Error(`Path traversal vulnerabilities found: ${found.length} (${found.join(' | ')})`);
}

async function testSecurityHeaders(warn) {
  const { headers } = await probe('GET', '/api/health');
  // null: present with any value; a list: one of these values; a string: exactly this value.
  const expected = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': ['DENY', 'SAMEORIGIN'],
    'x-xss-protection': '1; mode=block',
    'strict-transport-security': null,
    'content-security-policy': null,
    'referrer-policy': null,
  };
  for (const [name, wanted] of Object.entries(expected)) {
    const value = headers[name];
    if (!value) warn(`Missing security header: ${name}`);
    else if (Array.isArray(wanted) ? !wanted.includes(value) : wanted && value !== wanted) {
      warn(`Weak security header: ${name} is ${value}, expected ${wanted}`);
    }
  }
}

async function testInputValidation(warn) {
  const cases = {
    'Empty strings': { customerName: '', region: '', closeDate: '', opportunityName: '', description: '' },
    'Null values': { customerName: null, region: null, closeDate: null, opportunityName: null, description: null },
    'Undefined values': {
      customerName: undefined, region: undefined, closeDate: undefined, opportunityName: undefined, description: undefined,
    },
    'Very long strings': {
      customerName: 'A'.repeat(10000),
      region: 'B'.repeat(10000),
      closeDate: 'C'.repeat(10000),
      opportunityName: 'D'.repeat(10000),
      description: 'E'.repeat(100000),
    },
    // A function is dropped when axios serialises the body, as it was in the original suite.
    'Invalid data types': { customerName: 12345, region: true, closeDate: [], opportunityName: {}, description() {} },
  };
  for (const [name, body] of Object.entries(cases)) {
    const response = await probe('POST', '/api/analyze', body);
    if (response.status === 200) warn(`Input validation: accepted invalid input (${name})`);
  }
}

async function testRateLimitingAndDosProtection(warn) {
  const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => probe('POST', '/api/analyze', {
    customerName: `DoS Test ${i}`,
    region: 'us-east-1',
    closeDate: '2024-12-31',
    opportunityName: `DoS Test Opportunity ${i}`,
    description: 'DoS protection test',
  })));
  const counts = {};
  for (const { status } of responses) counts[status] = (counts[status] || 0) + 1;
  console.log(`  status codes of 50 concurrent requests: ${JSON.stringify(counts)}`);
  if (!counts[429] && !counts[503]) warn('No rate limiting detected - potential DoS vulnerability');
}

async function testDataEncryptionAndSensitiveInfo() {
  const response = await probe('POST', '/api/analyze', {
    customerName: 'ACME Corp (SSN: 123-45-6789)',
    region: 'us-east-1',
    closeDate: '2024-12-31',
    opportunityName: 'Credit Card Processing (4111-1111-1111-1111)',
    description: 'API Key: sk-1234567890abcdef, Password: admin123, Email: user@example.com',
  });
  if (response.status !== 200 || !response.data) return;
  const text = JSON.stringify(response.data);
  const patterns = {
    SSN: /\d{3}-\d{2}-\d{4}/,
    'Credit Card': /\d{4}-\d{4}-\d{4}-\d{4}/,
    'API Key': /sk-[a-zA-Z0-9]+/,
    Password: /password:\s*\w+/i,
    Email: /[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}/,
  };
  const exposed = Object.keys(patterns).filter((kind) => patterns[kind].test(text));
  if (exposed.length) {
    throw new Error(`Sensitive data exposure detected: ${exposed.length} patterns found (${exposed.join(', ')})`);
  }
}

async function testAuthenticationAndAuthorization(warn) {
  const body = { customerName: 'Test Customer', region: 'us-east-1', closeDate: '2024-12-31',
    opportunityName: 'Test Opportunity', description: 'Authentication test' };
  const none = await probe('POST', '/api/analyze', body);
  const invalid = await probe('POST', '/api/analyze', body, { Authorization: 'Bearer invalid-token' });
  const malformed = await probe('POST', '/api/analyze', body, { Authorization: 'InvalidFormat' });
  console.log(`  unauthenticated ${none.status}, invalid token ${invalid.status}, malformed ${malformed.status}`);
  if (none.status === 200) warn('API allows unauthenticated access');
}

async function testErrorInformationDisclosure(warn) {
  const words = ['stack trace', 'file path', 'database', 'internal server error', 'exception', 'debug', 'aws', 'lambda',
    'bedrock'];
  for (const [name, raw] of [['Invalid JSON', '{"invalid": json}'], ['Malformed request', 'not-json-at-all']]) {
    const response = await probe('POST', '/api/analyze', raw);
    if (response.data && typeof response.data === 'object') {
      const text = JSON.stringify(response.data).toLowerCase();
      const found = words.filter((word) => text.includes(word));
      if (found.length) warn(`Information disclosure in the error for ${name}: ${found.join(', ')}`);
    }
  }
}

run('security', [
  ['SQL Injection Protection', testSqlInjectionProtection],
  ['XSS Protection', testXssProtection],
  ['Command Injection Protection', testCommandInjectionProtection],
  ['Path Traversal Protection', testPathTraversalProtection],
  ['Security Headers', testSecurityHeaders],
  ['Input Validation', testInputValidation],
  ['Rate Limiting and DoS Protection', testRateLimitingAndDosProtection],
  ['Data Encryption and Sensitive Info', testDataEncryptionAndSensitiveInfo],
  ['Authentication and Authorization', testAuthenticationAndAuthorization],
  ['Error Information Disclosure', testErrorInformationDisclosure],
]);
