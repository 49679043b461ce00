/** The few HTTP API calls the end-to-end test makes to Prometheus and Alertmanager. */

export interface Series {
  readonly metric: Readonly<Record<string, string>>;
  readonly value?: readonly [number, string];
}

export interface QueryAnswer {
  /** `success`, or `error` for an expression Prometheus refuses. */
  readonly status: string;
  readonly error?: string;
  readonly resultType?: string;
  /** Vector and matrix results; a scalar or string result counts as one series. */
  readonly series: readonly Series[];
}

/** An instant query: GET /api/v1/query. */
export async function instantQuery(prometheusUrl: string, expr: string): Promise<QueryAnswer> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  const result = body.data?.result;
  const series: Series[] = Array.isArray(result) ? (result as Series[]) : result === undefined ? [] : [{ metric: {}, value: result as [number, string] }];
  return { status: body.status, error: body.error, resultType: body.data?.resultType, series };
}

/** Series of a query that must be valid (throws with Prometheus's error otherwise). */
export async function seriesOf(prometheusUrl: string, expr: string): Promise<readonly Series[]> {
  const answer = await instantQuery(prometheusUrl, expr);
  if (answer.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${answer.error ?? answer.status}`);
  return answer.series;
}

export interface RuleGroup {
  readonly name: string;
  /** When the group was last evaluated (RFC 3339). */
  readonly lastEvaluation: string;
  readonly rules: readonly { readonly name: string; readonly type: string; readonly health: string; readonly lastError?: string }[];
}

export async function ruleGroups(prometheusUrl: string): Promise<readonly RuleGroup[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/rules`);
  const body = (await res.json()) as { data: { groups: RuleGroup[] } };
  return body.data.groups;
}

export interface AlertmanagerAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly status: { readonly state: string; readonly inhibitedBy: readonly string[]; readonly silencedBy: readonly string[] };
}

/** Alertmanager's view of its alerts, including inhibited ones: GET /api/v2/alerts. */
export async function alertmanagerAlerts(alertmanagerUrl: string, alertname: string): Promise<readonly AlertmanagerAlert[]> {
  const res = await fetch(`${alertmanagerUrl}/api/v2/alerts?${new URLSearchParams({ filter: `alertname="${alertname}"` })}`);
  if (!res.ok) throw new Error(`Alertmanager answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as AlertmanagerAlert[];
}
