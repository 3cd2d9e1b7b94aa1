// What Bookinfo is made of: the services the lab deploys and the versions each one ships.
// Config validation (which versions a route may name) and the Bookinfo manifests both read this,
// so a version cannot be routed to unless it is deployed.

export const BOOKINFO_SERVICES = {
  productpage: ["v1"],
  details: ["v1"],
  ratings: ["v1"],
  reviews: ["v1", "v2", "v3"],
} as const;

export type ServiceName = keyof typeof BOOKINFO_SERVICES;

export const SERVICE_NAMES = Object.keys(BOOKINFO_SERVICES) as ServiceName[];

/** Port every Bookinfo service listens on. */
export const BOOKINFO_PORT = 9080;

export function versionsOf(service: ServiceName): readonly string[] {
  return BOOKINFO_SERVICES[service];
}

export function isServiceName(name: string): name is ServiceName {
  return Object.prototype.hasOwnProperty.call(BOOKINFO_SERVICES, name);
}
