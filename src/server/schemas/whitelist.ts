/** Request schemas of whitelist mode (seed 001, error 14103). */
import { Type } from "@sinclair/typebox";

export const WhitelistSettingsBody = Type.Object({ enabled: Type.Boolean() });

export const WhitelistUsersBody = Type.Object({
  external_user_ids: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
    minItems: 1,
    maxItems: 1000,
  }),
});

export const WhitelistUserParams = Type.Object({
  externalUserId: Type.String({ minLength: 1, maxLength: 256 }),
});
