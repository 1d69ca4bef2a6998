//! Who is asking for a sandbox, proven by STS and not claimed by the event.
//!
//! A Lambda invoked directly does not learn its caller, and the event is untrusted. So the CLI
//! signs `sts:GetCallerIdentity` with the caller's own credentials ([`sign_caller_proof`]) and
//! sends only the signature header values; the sandbox function replays that exact request to
//! the STS endpoint of its own configuration ([`verify_caller`]) and takes the principal ARN
//! from STS's answer: the pattern of Vault's AWS auth method and aws-iam-authenticator. STS
//! accepts a signature for 15 minutes after its `X-Amz-Date`, and only for the host, body and
//! headers signed, so a proof cannot be pointed at another host. Nor at another request: the
//! caller also signs [`BINDING_HEADER`] (a hash of the action and the sandbox, as Vault signs its
//! server-ID header), and the function sends the value of the request it got, so a proof replayed
//! for another action or sandbox no longer matches its signature and STS refuses it.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use drill_core::sandbox::{
    self, CallerProof, SandboxError, BINDING_HEADER, GET_CALLER_IDENTITY_BODY,
    GET_CALLER_IDENTITY_CONTENT_TYPE,
};

/// The regional STS endpoint of `region` (what the function uses unless configured otherwise).
pub fn default_sts_endpoint(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com")
}

/// Signs `sts:GetCallerIdentity` (POST `endpoint`/, the query-protocol body) with the
/// credentials of `config`, for `region`, with [`BINDING_HEADER`] = `binding` (of the request it
/// goes with: [`sandbox::binding`]). What the CLI sends as the event's `caller`.
pub async fn sign_caller_proof(
    config: &aws_config::SdkConfig,
    endpoint: &str,
    region: &str,
    binding: &str,
) -> Result<CallerProof, SandboxError> {
    sign_caller_proof_at(config, endpoint, region, binding, SystemTime::now()).await
}

/// [`sign_caller_proof`] at a given signing time (tests recompute a proof with it).
pub async fn sign_caller_proof_at(
    config: &aws_config::SdkConfig,
    endpoint: &str,
    region: &str,
    binding: &str,
    time: SystemTime,
) -> Result<CallerProof, SandboxError> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| SandboxError::Invalid("no AWS credentials configured".into()))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| SandboxError::Invalid(format!("no AWS credentials: {e}")))?;
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SandboxError::Invalid(format!("cannot sign the caller proof: {e}")))?
        .into();
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let signable = SignableRequest::new(
        "POST",
        url,
        [
            ("content-type", GET_CALLER_IDENTITY_CONTENT_TYPE),
            (BINDING_HEADER, binding),
        ]
        .into_iter(),
        SignableBody::Bytes(GET_CALLER_IDENTITY_BODY.as_bytes()),
    )
    .map_err(|e| SandboxError::Invalid(format!("STS endpoint {endpoint:?}: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| SandboxError::Invalid(format!("cannot sign the caller proof: {e}")))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| h.value().to_owned())
    };
    Ok(CallerProof {
        authorization: get("authorization")
            .ok_or_else(|| SandboxError::Invalid("signing gave no Authorization".into()))?,
        amz_date: get("x-amz-date")
            .ok_or_else(|| SandboxError::Invalid("signing gave no X-Amz-Date".into()))?,
        security_token: get("x-amz-security-token"),
    })
}

/// Replaces the SDK's own signature (made with throwaway credentials) by the caller's, just
/// before the request leaves: the endpoint, method and body stay the function's, and so does the
/// binding header's value (computed from the request the function got, never taken from it).
#[derive(Debug)]
struct CallersSignature(CallerProof, String);

impl Intercept for CallersSignature {
    fn name(&self) -> &'static str {
        "CallersSignature"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sts::error::BoxError> {
        let headers = context.request_mut().headers_mut();
        headers.insert("authorization", self.0.authorization.clone());
        headers.insert("x-amz-date", self.0.amz_date.clone());
        headers.insert(BINDING_HEADER, self.1.clone());
        headers.remove("x-amz-security-token");
        if let Some(token) = &self.0.security_token {
            headers.insert("x-amz-security-token", token.clone());
        }
        Ok(())
    }
}

/// The principal ARN STS answers for the caller's signed `GetCallerIdentity`, sent to
/// `endpoint` (the deployment's, never one from the event) with `binding`, the
/// [`BINDING_HEADER`] value of the request being served.
pub async fn verify_caller(
    config: &aws_config::SdkConfig,
    endpoint: &str,
    region: &str,
    proof: &CallerProof,
    binding: &str,
) -> Result<String, SandboxError> {
    Ok(
        verify_caller_with_id(config, endpoint, region, proof, binding)
            .await?
            .0,
    )
}

/// [`verify_caller`], also with STS's `UserId` for the caller: the value IAM's `aws:userid`
/// has in that caller's requests (an IAM user's unique id; `role-id:session-name` for an
/// assumed role), which a resource tag can be compared with in a policy, where the STS ARN
/// cannot (`aws:PrincipalArn` of an assumed role is the role's ARN, not the session's).
pub async fn verify_caller_with_id(
    config: &aws_config::SdkConfig,
    endpoint: &str,
    region: &str,
    proof: &CallerProof,
    binding: &str,
) -> Result<(String, Option<String>), SandboxError> {
    proof.check(region)?;
    // Throwaway credentials: the SDK signs with them, then the interceptor puts the caller's
    // signature in their place. The function's own credentials never go into this request.
    let placeholder = aws_sdk_sts::config::Credentials::new("unused", "unused", None, None, "none");
    let conf = aws_sdk_sts::config::Builder::from(config)
        .endpoint_url(endpoint)
        .region(aws_sdk_sts::config::Region::new(region.to_owned()))
        .credentials_provider(placeholder)
        .interceptor(CallersSignature(proof.clone(), binding.to_owned()))
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            if matches!(
                e,
                SdkError::DispatchFailure(_)
                    | SdkError::TimeoutError(_)
                    | SdkError::ResponseError(_)
            ) {
                return SandboxError::Transient(format!("STS at {endpoint} unreachable: {e}"));
            }
            let code = e.code().unwrap_or("no code").to_owned();
            let message = e.message().unwrap_or("").to_owned();
            SandboxError::Unauthenticated(format!(
                "STS refused the caller's signature ({code}: {message})"
            ))
        })?;
    // Only a backup-set sandbox's secret needs the id; its create refuses an answer without one.
    let user_id = out.user_id().filter(|u| !u.is_empty()).map(str::to_owned);
    Ok((sandbox::principal(out.arn())?, user_id))
}
