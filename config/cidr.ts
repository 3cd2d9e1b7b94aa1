// IPv4 address and CIDR arithmetic for config validation (pod, service and node ranges must not overlap).

export interface Cidr {
  text: string;
  base: number; // network address as an unsigned 32-bit number
  prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; the address must be the network address (no host bits), as kubeadm expects. */
export function parseCidr(text: string): Cidr | { error: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return { error: "is not an IPv4 CIDR like 10.0.0.0/16" };
  const address = parseIPv4(m[1]);
  const prefix = Number(m[2]);
  if (address === undefined) return { error: `has an invalid address ${m[1]}` };
  if (prefix < 8 || prefix > 28) return { error: "must have a prefix length from /8 to /28" };
  const base = (address & mask(prefix)) >>> 0;
  if (base !== address) return { error: `has host bits set; did you mean ${formatIPv4(base)}/${prefix}?` };
  return { text, base, prefix };
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return ((address & mask(cidr.prefix)) >>> 0) === cidr.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(prefix)) >>> 0) === ((b.base & mask(prefix)) >>> 0);
}
