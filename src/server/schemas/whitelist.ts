/** Request schemas of whitelist mode (seed 001, error 14103). */
import { Type } from "@sinclair/typebox";
import { Body } from "./common.js";

export const WhitelistSettingsBody = Body({ enabled: Type.Boolean() });

export const WhitelistUsersBody = Body({
  external_user_ids: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
    minItems: 1,
    maxItems: 1000,
  }),
});

export const WhitelistUserParams = Type.Object({
  externalUserId: Type.String({ minLength: 1, maxLength: 256 }),
});
