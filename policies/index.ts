// Entry point the analyzer runs (see run-pack). Constructing the pack starts its gRPC server.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./pack";

new PolicyPack(PACK_NAME, packArgs);
