// Walks a VirtualService's route lists; shared by the VirtualService rules.
import { arr, at, isRecord, str } from "../lib/plain";

export interface RouteRef {
  /** "http", "tcp" or "tls". */
  protocol: string;
  index: number;
  /** How messages name the route: its `name`, else its position, e.g. http[1]. */
  label: string;
  route: Record<string, unknown>;
}

export function routesOf(vsProps: Record<string, unknown>, protocols: string[] = ["http", "tcp", "tls"]): RouteRef[] {
  const out: RouteRef[] = [];
  for (const protocol of protocols) {
    arr(at(vsProps, "spec", protocol)).forEach((route, index) => {
      if (!isRecord(route)) {
        return;
      }
      const name = str(route["name"]);
      const label = name ? `${protocol} route "${name}"` : `${protocol}[${index}]`;
      out.push({ protocol, index, label, route });
    });
  }
  return out;
}

export function httpRoutesOf(vsProps: Record<string, unknown>): RouteRef[] {
  return routesOf(vsProps, ["http"]);
}
