import { hostReachabilityProbe } from './shared/host-reachability.js';

/** customers.gitlab.com: licence activation and the daily seat-link sync go here. */
export const customersPortal = hostReachabilityProbe('customers_portal', 'customers.gitlab.com');
