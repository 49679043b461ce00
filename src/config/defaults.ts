/** GitLab's own endpoints (gitlab-duo-facts.md §1, §6); a dependency-free module on purpose. */
export const DEFAULT_ENDPOINTS = {
  customers_portal: 'https://customers.gitlab.com',
  cloud_connector: 'https://cloud.gitlab.com',
  duo_workflow_service: 'duo-workflow-svc.runway.gitlab.net:443',
} as const;

/** Outside Prometheus's allocated 9100-9999 and GitLab Omnibus's own ports. */
export const DEFAULT_LISTEN_ADDRESS = ':10420';
