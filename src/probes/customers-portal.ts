import { hostReachabilityProbe } from './shared/host-reachability.js';

/** customers.gitlab.com: licence activation and the daily seat-link sync go here. */
export const customersPortal = hostReachabilityProbe('customers_portal', 'customers.gitlab.com', {
  default:
    'Open outbound HTTPS to customers.gitlab.com:443 from every GitLab node and this host, directly or through the proxy GitLab uses: activation and the daily subscription sync need it.',
});
