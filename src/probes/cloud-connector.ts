import { hostReachabilityProbe } from './shared/host-reachability.js';

/** cloud.gitlab.com: the AI gateway behind Cloud Connector; every Duo request goes here. */
export const cloudConnector = hostReachabilityProbe('cloud_connector', 'cloud.gitlab.com');
