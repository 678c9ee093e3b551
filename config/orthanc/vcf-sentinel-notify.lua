--[[
vcf-sentinel-notify.lua: tells vcf-sentinel when a study has finished arriving in this Orthanc.

When Orthanc has received no new instance of a study for "StableAge" seconds, it calls OnStableStudy.
This script then sends the service a study notification (see "DICOMweb study notifications" in the
README):

  POST {VCF_SENTINEL_URL}/notifications/studies
  Authorization: Bearer {VCF_SENTINEL_TOKEN}
  { "studyInstanceUid": "...", "source": "...", "accessionNumber": "...", "patientId": "..." }

The service then fetches the study back from this Orthanc over DICOMweb (QIDO-RS and WADO-RS) and
analyses it. So this Orthanc must also be in the service's DICOMWEB_SOURCES, with the DICOMweb plugin
enabled.

Installing it (tested with Orthanc 1.10.1, Debian 12's package):

  1. Copy this file to /etc/orthanc/vcf-sentinel-notify.lua and add to orthanc.json:
       "LuaScripts": [ "/etc/orthanc/vcf-sentinel-notify.lua" ],
       "StableAge": 60
     Debian's /etc/orthanc/orthanc.json already has both keys: change them there, since Orthanc refuses
     to start when a key is set in two of the files of its configuration directory.
     StableAge (seconds, Orthanc's default is 60) is how long a study must be quiet before it counts as
     complete. Too short, and a study still arriving is analysed in part and then again once it is
     complete (harmless, but the work is done twice).
  2. Give Orthanc's process these environment variables (systemd: `systemctl edit orthanc`, then
     `Environment=VCF_SENTINEL_URL=...`; Docker: the container's environment):
       VCF_SENTINEL_URL        required: the service's base URL, e.g. http://vcf-sentinel:8080
       VCF_SENTINEL_TOKEN      the service's API_TOKEN (required when the service has one)
       VCF_SENTINEL_SOURCE     the key of DICOMWEB_SOURCES that names this Orthanc; unset = "default"
       VCF_SENTINEL_TIMEOUT_S  how long to wait for the service's answer, in seconds (default 10), where
                               Orthanc's Lua has SetHttpTimeout; Orthanc 1.10's has not, and there
                               orthanc.json's "HttpTimeout" (seconds, default 60) applies instead
     Nothing is hard-coded here: one copy of the script serves every site. Without VCF_SENTINEL_URL
     the script says so in Orthanc's log at start and notifies nothing.
  3. For an https:// URL, Orthanc needs "HttpsCACertificates" in orthanc.json (on Debian:
     "/etc/ssl/certs/ca-certificates.crt"), otherwise it cannot verify the service's certificate.

What to expect:
  - Orthanc's HttpPost does not retry. A notification that fails (service down, wrong token, bad
    answer) is logged by Orthanc, with Orthanc's own study id, never the patient id, and Orthanc carries
    on. To send it again, repeat the POST above by hand (curl) or run OnStableStudy again: the service's
    notification intake is repeat-safe (a repeat while the study is queued or running adds nothing, a
    repeat for an unchanged study that was already analysed is answered "unchanged"), so a resend is
    always harmless.
  - Instances that arrive after the study was stable make it stable again later: the service is
    notified again and re-analyses the study only if its content changed.
  - Orthanc runs Lua callbacks one at a time, so a service that does not answer would hold up other
    scripts' events: the timeout above bounds that. Orthanc's Lua HTTP client is shared by all the
    scripts of this Orthanc, so VCF_SENTINEL_TIMEOUT_S applies to their HttpGet/HttpPost calls too.
]]

-- An environment variable, or nil when unset or empty.
local function setting(name)
  local value = os.getenv(name)
  if value == nil or value == '' then
    return nil
  end
  return value
end

-- A DICOM text value without the padding spaces senders leave, or nil when there is nothing left.
local function text(value)
  if type(value) ~= 'string' then
    return nil
  end
  local trimmed = value:match('^%s*(.-)%s*$')
  if trimmed == '' then
    return nil
  end
  return trimmed
end

-- Read once: Orthanc's environment does not change while it runs.
local BASE_URL = setting('VCF_SENTINEL_URL')
local TOKEN = setting('VCF_SENTINEL_TOKEN')
local SOURCE = setting('VCF_SENTINEL_SOURCE')
local TIMEOUT_S = tonumber(setting('VCF_SENTINEL_TIMEOUT_S') or '10') or 10

local NOTIFY_URL = nil
if BASE_URL ~= nil then
  -- "http://host:8080/" and "http://host:8080" are the same base.
  NOTIFY_URL = BASE_URL:gsub('/+$', '') .. '/notifications/studies'
  print('vcf-sentinel-notify: stable studies are notified to ' .. NOTIFY_URL ..
    ' as source "' .. (SOURCE or 'default') .. '"' .. (TOKEN and ' with a bearer token' or ' without a token'))
else
  print('vcf-sentinel-notify: VCF_SENTINEL_URL is not set: no study will be notified')
end

-- The patient's PatientID: OnStableStudy's tags are the study's own main tags, which do not hold it.
local function patientIdOf(studyId)
  local ok, answer = pcall(RestApiGet, '/studies/' .. studyId)
  if not ok or type(answer) ~= 'string' then
    return nil
  end
  local study = ParseJson(answer)
  if type(study) ~= 'table' or type(study['PatientMainDicomTags']) ~= 'table' then
    return nil
  end
  return text(study['PatientMainDicomTags']['PatientID'])
end

local function notify(studyId, tags)
  local studyInstanceUid = text(tags['StudyInstanceUID'])
  if studyInstanceUid == nil then
    print('vcf-sentinel-notify: Orthanc study ' .. studyId .. ' has no StudyInstanceUID: not notified')
    return
  end

  local notification = { studyInstanceUid = studyInstanceUid }
  notification['source'] = SOURCE
  notification['accessionNumber'] = text(tags['AccessionNumber'])
  notification['patientId'] = patientIdOf(studyId)
  -- true = keep strings as strings: without it DumpJson turns an accession number such as "0012345"
  -- into the number 12345, which the service refuses (and which is another accession number).
  local body = DumpJson(notification, true)

  -- Never an empty table here: Orthanc 1.10 aborts on an empty headers table.
  local headers = { ['Content-Type'] = 'application/json', ['Accept'] = 'application/json' }
  if TOKEN ~= nil then
    headers['Authorization'] = 'Bearer ' .. TOKEN
  end

  -- Orthanc 1.10's Lua has no SetHttpTimeout: there, orthanc.json's "HttpTimeout" (default 60 s) applies.
  if SetHttpTimeout ~= nil then
    SetHttpTimeout(TIMEOUT_S)
  end
  -- HttpPost gives the answer's body on 2xx, nil when the service could not be reached; on another
  -- status it gives no usable body (an empty string in 1.10), and Orthanc logs the status just before.
  local ok, answer = pcall(HttpPost, NOTIFY_URL, body, headers)
  local accepted = nil
  if ok and type(answer) == 'string' and answer ~= '' then
    accepted = ParseJson(answer)
  end

  -- The log names Orthanc's study id (to find it in Orthanc), never the patient id or accession number.
  if type(accepted) == 'table' and accepted['jobId'] ~= nil then
    local outcome = 'accepted'
    if accepted['duplicate'] then
      outcome = 'already queued'
    elseif accepted['unchanged'] then
      outcome = 'unchanged since its analysis'
    end
    print('vcf-sentinel-notify: Orthanc study ' .. studyId .. ' notified: ' .. outcome ..
      ' (status ' .. tostring(accepted['status']) .. ')')
  else
    local why = 'refused or not understood (the HTTP error is logged just above)'
    if not ok then
      why = 'the HTTP call failed'
    elseif answer == nil then
      why = 'the service could not be reached'
    end
    print('vcf-sentinel-notify: FAILED to notify Orthanc study ' .. studyId .. ': ' .. why ..
      '; not retried, resend it once the cause is fixed')
  end
end

function OnStableStudy(studyId, tags, metadata)
  if NOTIFY_URL == nil then
    return
  end
  -- Whatever happens, the study stays stored and Orthanc carries on: an error is a log line.
  local ok, err = pcall(notify, studyId, tags or {})
  if not ok then
    print('vcf-sentinel-notify: FAILED to notify Orthanc study ' .. studyId .. ': script error: ' .. tostring(err))
  end
end
