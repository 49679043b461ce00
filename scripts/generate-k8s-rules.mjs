#!/usr/bin/env node
// Generates deploy/kubernetes/prometheusrule.yaml (a Prometheus Operator PrometheusRule) from
// alerts/gitlab-duo.rules.yml, so that the Kubernetes rules cannot drift from the tested ones.
//
//   node scripts/generate-k8s-rules.mjs           write the file
//   node scripts/generate-k8s-rules.mjs --check   exit 1 if the committed file is stale
//   node scripts/generate-k8s-rules.mjs --stdout  print what would be written
//
// The rule groups are copied as YAML nodes, comments and block scalars included, so the thresholds
// keep their explanations. test/deploy/kubernetes.test.ts fails when the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Document, isSeq, parseDocument } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SOURCE = 'alerts/gitlab-duo.rules.yml';
const TARGET = 'deploy/kubernetes/prometheusrule.yaml';

const HEADER = [
  ` GENERATED from ${SOURCE} by scripts/generate-k8s-rules.mjs: do not edit.`,
  ` Change the rules file, then run: node scripts/generate-k8s-rules.mjs`,
  '',
  ' The same recording and alerting rules as the rules file, for the Prometheus Operator. If your',
  ' Prometheus selects PrometheusRules by label (kube-prometheus-stack: release: <helm release',
  ' name>), add that label under metadata.labels in a kustomize patch. The rules select the scrape',
  ' job as job="gitlab-duo-exporter", which is the name of the Service in service.yaml.',
].join('\n');

/** The PrometheusRule manifest for the text of a Prometheus rules file. */
function generate(rulesText) {
  const source = parseDocument(rulesText, { uniqueKeys: true });
  if (source.errors.length > 0) throw new Error(`${SOURCE}: ${source.errors[0].message}`);
  const groups = source.get('groups', true);
  if (!isSeq(groups) || groups.items.length === 0) throw new Error(`${SOURCE}: no rule groups`);

  const doc = new Document({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'gitlab-duo-exporter',
      labels: {
        'app.kubernetes.io/name': 'gitlab-duo-exporter',
        'app.kubernetes.io/component': 'exporter',
      },
    },
    spec: {},
  });
  doc.setIn(['spec', 'groups'], groups);
  doc.commentBefore = HEADER;
  return doc.toString({ lineWidth: 100 });
}

function main(argv) {
  const generated = generate(readFileSync(new URL(SOURCE, `file://${ROOT}`), 'utf8'));
  const target = new URL(TARGET, `file://${ROOT}`);
  if (argv.includes('--stdout')) {
    process.stdout.write(generated);
    return 0;
  }
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current === generated) return 0;
    console.error(`${TARGET} is stale: run node scripts/generate-k8s-rules.mjs`);
    return 1;
  }
  writeFileSync(target, generated);
  console.log(`wrote ${TARGET}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
