// The original system's clients, reduced to what they do with a POST /api/analyze answer.
//
// Written from the documented parsing rules of those clients (the main page script, its fixed and compact
// variants, the React service and the backend automation whose parsers the pages share), not from their code.
// Like those pages it calls string and array methods without checking types, so a field of the wrong type
// throws. Usage: `node original_client.mjs ANSWER.json`; prints what it extracted as JSON, exits 1 on a throw.
import { readFileSync } from 'node:fs';

const SERVICE_FILTER = /OTHER_SERVICES|Combined/i;
const ARCHITECTURE_KEYS = [
  'NETWORK_FOUNDATION', 'COMPUTE_LAYER', 'DATA_LAYER', 'SECURITY_COMPONENTS',
  'INTEGRATION_POINTS', 'SCALING_ELEMENTS', 'MANAGEMENT_TOOLS', 'COMPLETE_ARCHITECTURE',
];
const HEADERS = [
  'ANALYSIS METHODOLOGY', 'SIMILAR PROJECTS', 'DETAILED FINDINGS', 'PREDICTION RATIONALE',
  'RISK FACTORS', 'ARCHITECTURE DESCRIPTION', 'SUMMARY METRICS', 'VALIDATION_ERRORS',
];

// The main page shows a string as is unless it is a plain number once commas are gone.
function pageCurrency(value) {
  if (typeof value === 'number') return '$' + value.toLocaleString('en-US');
  const n = parseFloat(String(value).replace(/,/g, ''));
  return Number.isNaN(n) ? value : '$' + n.toLocaleString('en-US');
}

// The fixed page strips `$` and commas before reading the number.
function fixedPageAmount(value) {
  return parseFloat(String(value).replace(/[$,]/g, ''));
}

function renderMetrics(m) {
  return {
    arr: pageCurrency(m.predictedArr),
    mrr: pageCurrency(m.predictedMrr),
    arrAmount: fixedPageAmount(m.predictedArr),
    mrrAmount: fixedPageAmount(m.predictedMrr),
    // The "Time to Launch" box: the digits when present, else the duration without its unit.
    timeToLaunch: m.timeToLaunch || m.predictedProjectDuration.replace(/\s*months?\s*$/i, ''),
    compactDuration: (m.predictedProjectDuration.match(/(\d+)/) || [null, ''])[1],
    // In UTC so the result does not depend on this machine; the page used local time, where `new Date('2025-06')`
    // (read as UTC) shows the month before west of Greenwich.
    launchDate: m.launchDate
      ? new Date(m.launchDate).toLocaleDateString('en-US', { year: 'numeric', month: 'long', timeZone: 'UTC' })
      : '',
    confidence: typeof m.confidenceScore === 'number' ? `${m.confidenceScore}%` : m.confidence,
    confidenceLabel: m.confidence.toUpperCase(),
    factors: m.confidenceFactors.map((f) => `<li>${f}</li>`),
    services: Array.isArray(m.topServices)
      ? m.topServices
        .filter((s) => s.name && !SERVICE_FILTER.test(s.name))
        .map((s) => ({ name: s.name, monthlyCost: s.monthlyCost, upfrontCost: s.upfrontCost }))
      : null,
  };
}

// The main page's section extraction (used when a top-level section is missing): header, newline, up to `\n===`.
function extractSections(full) {
  const names = {
    methodology: 'ANALYSIS[_\\s]METHODOLOGY',
    similarProjects: 'SIMILAR[_\\s]PROJECTS',
    findings: 'DETAILED[_\\s]FINDINGS',
    rationale: 'PREDICTION[_\\s]RATIONALE',
    riskFactors: 'RISK[_\\s]FACTORS',
    architecture: 'ARCHITECTURE[_\\s]DESCRIPTION',
    validationErrors: 'VALIDATION_ERRORS',
  };
  const out = {};
  for (const [key, name] of Object.entries(names)) {
    const match = full.match(new RegExp(`===${name}===\\s*\\n([\\s\\S]*?)(?=\\n===|$)`, 'i'));
    out[key] = match ? match[1].trim() : null;
  }
  return out;
}

// The order-dependent extraction of the Nova/original automation: each section ends at the next header.
function extractInOrder(full) {
  const out = {};
  HEADERS.forEach((header, i) => {
    const own = header.replace(/ /g, '\\s*');
    const next = i + 1 < HEADERS.length ? `(?=\\s*===${HEADERS[i + 1].replace(/ /g, '\\s*')}===)` : '$';
    const match = full.match(new RegExp(`===${own}===\\s*([\\s\\S]*?)${next}`));
    out[header] = match ? match[1].trim() : null;
  });
  return out;
}

function extractSummaryMetrics(full) {
  const block = full.match(/===SUMMARY[ _]METRICS===([\s\S]*?)(?:===|$)/i)[1];
  const first = (re) => (block.match(re) || [null, null])[1];
  const servicesBlock = block.match(/TOP_SERVICES:\s*([\s\S]*?)(?=OTHER_SERVICES|CONFIDENCE|===|$)/i)[1];
  const servicesBlockB = block.match(/TOP_SERVICES:\s*([\s\S]*?)(?:OTHER_SERVICES:|CONFIDENCE:|$)/i)[1];
  const lines = servicesBlock.split('\n').filter((l) => l.length > 0);
  const strict = /^([^|]+)\|\$?([\d,.]+)\/month\|\$?([\d,.]+) upfront$/; // lines are not trimmed
  const page = /^([^|]+)\|\$?([\d,]+)\/month\|\$?([\d,]+) upfront$/;
  const other = block.match(/OTHER_SERVICES:\s*Combined\|?(\$?[^|\n]+)(?:\|(\$?[^|\n]+))?/i);
  return {
    arr: first(/PREDICTED_ARR:\s*\$?([\d,]+)/i),
    mrr: first(/MRR:\s*\$?([\d,]+)/i),
    launchDate: first(/LAUNCH_DATE:\s*(\d{4}-\d{2})/),
    launchDateRaw: first(/LAUNCH_DATE:\s*([^\n]+)/),
    duration: first(/PREDICTED_PROJECT_DURATION:\s*(\d+\s*months?)/),
    durationRaw: first(/PREDICTED_PROJECT_DURATION:\s*([^\n]+)/),
    confidence: first(/CONFIDENCE:\s*(HIGH|MEDIUM|LOW)/),
    confidenceRaw: first(/CONFIDENCE:\s*([^\n]+)/),
    servicesBlocksAgree: servicesBlock.trim() === servicesBlockB.trim(),
    services: lines.map((line) => {
      const m = line.match(strict);
      const p = line.trim().match(page);
      if (!m || !p) throw new Error(`service line not parsed: ${JSON.stringify(line)}`);
      return { name: m[1], monthly: m[2], upfront: m[3] };
    }),
    other: other ? { monthly: other[1], upfront: other[2] || null } : null,
  };
}

// The Nova/original architecture parser: the value on the key's line, plus continuation lines up to a key.
function extractArchitecture(text) {
  const stop = ARCHITECTURE_KEYS.map((k) => `${k}:`).join('|');
  const out = {};
  for (const key of ARCHITECTURE_KEYS) {
    const match = text.match(new RegExp(`(?:${key}):\\s*([^\\n]+(?:\\n(?!${stop})[^\\n]+)*)`, 'i'));
    out[key] = match ? match[1].trim() : 'N/A';
  }
  return out;
}

// The enhanced formatter's reading of the SIMILAR PROJECTS body, and the legacy page's key: value reading.
function parseProjects(raw) {
  const field = (block, re) => (block.match(re) || [null, null])[1];
  const enhanced = raw.split(/---\s*Project\s*\d+\s*---/i).filter((b) => b.trim()).map((b) => ({
    name: field(b, /Project\s*Name:\s*([^\n]+)/i),
    customer: field(b, /Customer:\s*([^\n]+)/i),
    industry: field(b, /Industry:\s*([^\n]+)/i),
    region: field(b, /Region:\s*([^\n]+)/i),
    arr: field(b, /ARR:\s*\$?([\d,]+)/i),
  }));
  const legacy = raw.split('--- Project').slice(1).map((block) => {
    const entry = {};
    for (const line of block.split('\n')) {
      const at = line.indexOf(':');
      if (at > 0) entry[line.slice(0, at).replace(/^[•o]\s*/, '').trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    return entry;
  });
  return { enhanced, legacy };
}

function readDebug(d) {
  let payload = null;
  try {
    payload = JSON.parse(d.bedrockPayload);
  } catch {
    payload = null;
  }
  return {
    hasLimit: d.sqlQuery.includes('LIMIT'),
    sqlHead: d.sqlQuery.substring(0, 80),
    responseHead: d.fullResponse.substring(0, 80),
    resultsHead: d.queryResults.substring(0, 80),
    sqlLogs: d.sqlGenerationLogs.length > 0 ? d.sqlGenerationLogs.join('\n') : '',
    analysisLogs: d.analysisGenerationLogs.length > 0 ? d.analysisGenerationLogs.join('\n') : '',
    rowCount: d.queryRowCount,
    truncated: Boolean(d.truncated),
    truncationReason: d.truncated ? d.truncationReason.substring(0, 80) : '',
    payload,
  };
}

function run(answer) {
  const full = answer.fullAnalysis || answer.formattedSummaryText;
  // The page treats a methodology saying "not available" as missing and re-reads the report.
  const methodologyMissing = Boolean(full && answer.methodology && answer.methodology.includes('not available'));
  const sections = extractSections(full);
  // React reads `sections` when it has at least three keys, else parses the report itself.
  const react = Object.keys(answer.sections).length >= 3 ? answer.sections : null;
  return {
    metrics: renderMetrics(answer.metrics),
    methodologyMissing,
    sections,
    inOrder: extractInOrder(full),
    summary: extractSummaryMetrics(full),
    architecture: extractArchitecture(sections.architecture),
    projects: parseProjects(answer.similarProjects),
    react: react && { similarProjectsRaw: react.similarProjectsRaw, summaryMetrics: react.summaryMetrics },
    query: answer.query.sql || answer.query,
    funding: answer.fundingOptions.trim(),
    followOn: answer.followOnOpportunities.trim(),
    fallback: answer.fallbackMode ? answer.debug.fallbackReason.substring(0, 80) : '',
    debug: readDebug(answer.debug),
  };
}

process.stdout.write(JSON.stringify(run(JSON.parse(readFileSync(process.argv[2], 'utf8')))));
