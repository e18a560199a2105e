-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "passwordSignIn" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "signInUpstreams" JSONB;
