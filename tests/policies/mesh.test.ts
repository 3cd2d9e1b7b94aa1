// Mesh-wide mutual TLS.
import { checkMeshMtls } from "../../policies/rules/mtls";
import { peerAuthentication, view } from "./fixtures";

const lab = { production: false, permissiveOnPurpose: false, rootNamespace: "istio-system" };

describe("mesh-mtls-strict", () => {
  test("a mesh-wide STRICT PeerAuthentication passes", () => {
    expect(checkMeshMtls([view(peerAuthentication("STRICT"))], lab)).toEqual([]);
  });
  test("no PeerAuthentication at all fails", () => {
    expect(checkMeshMtls([], lab)[0].message).toContain("no mesh-wide PeerAuthentication");
  });
  test("STRICT only for one namespace is not mesh-wide and fails", () => {
    const v = checkMeshMtls([view(peerAuthentication("STRICT", "bookinfo"))], lab);
    expect(v[0].message).toContain("no mesh-wide PeerAuthentication");
  });
  test("a selector narrows it to some workloads, so it is not mesh-wide", () => {
    const v = checkMeshMtls([view(peerAuthentication("STRICT", "istio-system", { matchLabels: { app: "x" } }))], lab);
    expect(v).toHaveLength(1);
  });
  test("PERMISSIVE fails as mandatory and hints at permissiveOnPurpose", () => {
    const v = checkMeshMtls([view(peerAuthentication("PERMISSIVE"))], lab);
    expect(v[0].level).toBeUndefined();
    expect(v[0].message).toContain("permissiveOnPurpose");
  });
  test("PERMISSIVE on purpose is reported as advisory", () => {
    const v = checkMeshMtls([view(peerAuthentication("PERMISSIVE"))], { ...lab, permissiveOnPurpose: true });
    expect(v).toHaveLength(1);
    expect(v[0].level).toBe("advisory");
  });
  test("PERMISSIVE on purpose stays mandatory on production", () => {
    const v = checkMeshMtls([view(peerAuthentication("PERMISSIVE"))], { ...lab, permissiveOnPurpose: true, production: true });
    expect(v[0].level).toBeUndefined();
  });
  test("an unset mode means Istio's default PERMISSIVE; DISABLE fails even on purpose", () => {
    expect(checkMeshMtls([view(peerAuthentication(undefined))], lab)[0].message).toContain("PERMISSIVE");
    const v = checkMeshMtls([view(peerAuthentication("DISABLE"))], { ...lab, permissiveOnPurpose: true });
    expect(v[0].level).toBeUndefined();
    expect(v[0].message).toContain("DISABLE");
  });
  test("another root namespace can be configured", () => {
    expect(checkMeshMtls([view(peerAuthentication("STRICT", "mesh-root"))], { ...lab, rootNamespace: "mesh-root" })).toEqual([]);
  });
});
