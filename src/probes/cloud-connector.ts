import { hostReachabilityProbe } from './shared/host-reachability.js';

/** cloud.gitlab.com: the AI gateway behind Cloud Connector; every Duo request goes here. */
export const cloudConnector = hostReachabilityProbe('cloud_connector', 'cloud.gitlab.com', {
  default:
    'Open outbound HTTPS to cloud.gitlab.com:443 from every GitLab node and this host, directly or through the proxy GitLab uses: Code Suggestions, Chat and the token sync need it.',
});
